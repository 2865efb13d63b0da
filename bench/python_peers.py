# python_peers: the Python rows of the benchmark: the same submit-then-poll jobs
# with requests (one at a time) and with aiohttp (CONCURRENCY at a time).

# Usage: python3 python_peers.py requests|aiohttp BASE_URL API_KEY JOBS CONCURRENCY
# Prints "completed JOBS" when every job has succeeded; raises on any failure.
# As in lua-dalle, a submit goes on a fresh connection and polls reuse pooled ones.
import asyncio
import sys

MAX_POLLS_PER_JOB = 100
FIELDS = {"modelId": "70", "model": "dall-e-2", "size": "1024x1024"}


def form(base, n):
    return dict(FIELDS, callback=base + "/_mock/callback", prompt="bench job %d" % n)


def multipart_form(aiohttp, fields):
    form_data = aiohttp.MultipartWriter("form-data")
    for name, value in fields.items():
        form_data.append(value).set_content_disposition("form-data", name=name)
    return form_data


def run_requests(base, key, jobs):
    import requests

    headers = {"x-api-key": key, "accept": "application/json"}
    with requests.Session() as polls:
        for n in range(1, jobs + 1):
            # requests.post opens and closes a connection of its own: a fresh one.
            files = {name: (None, value) for name, value in form(base, n).items()}
            reply = requests.post(base + "/sdk/models/dall-e", files=files, headers=headers)
            reply.raise_for_status()
            job_id = reply.json()["id"]
            for _ in range(MAX_POLLS_PER_JOB):
                reply = polls.get(base + "/sdk/art/" + job_id, headers=headers)
                reply.raise_for_status()
                if reply.json()["status"] == "succeeded":
                    break
            else:
                raise RuntimeError("job %s still pending after %d polls" % (job_id, MAX_POLLS_PER_JOB))
    return jobs


async def run_aiohttp(base, key, jobs, concurrency):
    import aiohttp

    headers = {"x-api-key": key, "accept": "application/json"}
    next_job = iter(range(1, jobs + 1))
    completed = 0

    async def worker(submits, polls):
        nonlocal completed
        for n in next_job:
            body = multipart_form(aiohttp, form(base, n))
            async with submits.post(base + "/sdk/models/dall-e", data=body, headers=headers) as reply:
                reply.raise_for_status()
                job_id = (await reply.json())["id"]
            for _ in range(MAX_POLLS_PER_JOB):
                async with polls.get(base + "/sdk/art/" + job_id, headers=headers) as reply:
                    reply.raise_for_status()
                    if (await reply.json())["status"] == "succeeded":
                        break
            else:
                raise RuntimeError("job %s still pending after %d polls" % (job_id, MAX_POLLS_PER_JOB))
            completed += 1

    # force_close: every submit gets a connection of its own, closed after it.
    fresh = aiohttp.TCPConnector(force_close=True, limit=0)
    pooled = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=fresh) as submits, \
            aiohttp.ClientSession(connector=pooled) as polls:
        await asyncio.gather(*(worker(submits, polls) for _ in range(concurrency)))
    return completed


if __name__ == "__main__":
    if len(sys.argv) != 6:
        sys.exit("usage: python_peers.py requests|aiohttp BASE_URL API_KEY JOBS CONCURRENCY")
    client, base, key = sys.argv[1:4]
    jobs, concurrency = int(sys.argv[4]), int(sys.argv[5])
    if client == "requests":
        if concurrency != 1:
            sys.exit("python_peers: requests runs one job at a time (concurrency 1)")
        done = run_requests(base, key, jobs)
    elif client == "aiohttp":
        done = asyncio.run(run_aiohttp(base, key, jobs, concurrency))
    else:
        sys.exit("python_peers: unknown client %r (requests or aiohttp)" % client)
    if done != jobs:
        sys.exit("python_peers: only %d of %d jobs completed" % (done, jobs))
    print("completed %d" % done)
