/* A small PNG "drawn from the prompt", written by hand (signature, IHDR,
 * stored-deflate IDAT, IEND) so the mock needs neither libpng nor zlib. */
#include "png.h"

#include <stdlib.h>
#include <string.h>

#define BYTES_PER_PIXEL 3
#define PNG_BIT_DEPTH 8
#define PNG_COLOR_TYPE_RGB 2
#define PNG_FILTER_NONE 0
/* A stored deflate block holds at most this many bytes (its LEN is 16 bits). */
#define STORED_BLOCK_MAX 65535u
#define ADLER_MODULUS 65521u
#define CRC32_POLYNOMIAL 0xEDB88320u
#define FNV_OFFSET_BASIS 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL
/* zlib header: deflate, 32 KiB window, no dictionary, header check bits set. */
static const unsigned char zlib_header[2] = {0x78, 0x01};
static const unsigned char png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};

static uint64_t prompt_hash(const char *prompt, size_t len)
{
    uint64_t hash = FNV_OFFSET_BASIS;
    for (size_t i = 0; i < len; i++) {
        hash ^= (unsigned char)prompt[i];
        hash *= FNV_PRIME;
    }
    return hash;
}

/* Bitwise rather than table-driven: images are a few KiB, and no table means
 * no shared state to initialise across connection threads. */
static uint32_t crc32_update(uint32_t crc, const unsigned char *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        crc ^= data[i];
        for (int bit = 0; bit < 8; bit++)
            crc = (crc >> 1) ^ (CRC32_POLYNOMIAL & (0u - (crc & 1u)));
    }
    return crc;
}

static uint32_t adler32(const unsigned char *data, size_t len)
{
    uint32_t a = 1, b = 0;
    for (size_t i = 0; i < len; i++) {
        a = (a + data[i]) % ADLER_MODULUS;
        b = (b + a) % ADLER_MODULUS;
    }
    return (b << 16) | a;
}

static void put_be32(mock_buf *out, uint32_t value)
{
    unsigned char bytes[4] = {(unsigned char)(value >> 24), (unsigned char)(value >> 16),
                              (unsigned char)(value >> 8), (unsigned char)value};
    buf_append(out, bytes, sizeof bytes);
}

static void put_chunk(mock_buf *out, const char type[4], const unsigned char *data, size_t len)
{
    uint32_t crc = 0xFFFFFFFFu;
    put_be32(out, (uint32_t)len);
    buf_append(out, type, 4);
    buf_append(out, data, len);
    crc = crc32_update(crc, (const unsigned char *)type, 4);
    crc = crc32_update(crc, data, len);
    put_be32(out, crc ^ 0xFFFFFFFFu);
}

/* Diagonal bands of two prompt colours, the band width also from the prompt,
 * shaded left to right so the picture is not flat. */
static void draw(uint64_t hash, unsigned width, unsigned height, unsigned char *raw)
{
    unsigned char first[3] = {(unsigned char)hash, (unsigned char)(hash >> 8),
                              (unsigned char)(hash >> 16)};
    unsigned char second[3] = {(unsigned char)(hash >> 24), (unsigned char)(hash >> 32),
                               (unsigned char)(hash >> 40)};
    unsigned band = 2 + (unsigned)((hash >> 48) % 7);
    size_t row_bytes = 1 + (size_t)width * BYTES_PER_PIXEL;

    for (unsigned y = 0; y < height; y++) {
        unsigned char *row = raw + (size_t)y * row_bytes;
        row[0] = PNG_FILTER_NONE;
        for (unsigned x = 0; x < width; x++) {
            const unsigned char *colour = ((x + y) / band) % 2 ? first : second;
            unsigned shade = 160 + (95 * x) / (width ? width : 1);
            for (int c = 0; c < BYTES_PER_PIXEL; c++)
                row[1 + (size_t)x * BYTES_PER_PIXEL + (size_t)c] =
                    (unsigned char)((colour[c] * shade) / 255);
        }
    }
}

/* A zlib stream of stored (uncompressed) deflate blocks. */
static void zlib_stored(const unsigned char *raw, size_t len, mock_buf *out)
{
    size_t done = 0;
    buf_append(out, zlib_header, sizeof zlib_header);
    do {
        size_t block = len - done < STORED_BLOCK_MAX ? len - done : STORED_BLOCK_MAX;
        unsigned char is_final = done + block == len;
        unsigned char header[5] = {is_final, (unsigned char)block, (unsigned char)(block >> 8),
                                   (unsigned char)~block, (unsigned char)(~block >> 8)};
        buf_append(out, header, sizeof header);
        buf_append(out, raw + done, block);
        done += block;
    } while (done < len);
    put_be32(out, adler32(raw, len));
}

void png_from_prompt(const char *prompt, size_t prompt_len, unsigned width, unsigned height,
                     mock_buf *out)
{
    size_t raw_len = (size_t)height * (1 + (size_t)width * BYTES_PER_PIXEL);
    unsigned char *raw = mock_calloc(raw_len, 1);
    unsigned char ihdr[13];
    mock_buf idat = {0};

    draw(prompt_hash(prompt, prompt_len), width, height, raw);
    zlib_stored(raw, raw_len, &idat);
    free(raw);

    memset(ihdr, 0, sizeof ihdr);
    for (int i = 0; i < 4; i++) {
        ihdr[i] = (unsigned char)(width >> (24 - 8 * i));
        ihdr[4 + i] = (unsigned char)(height >> (24 - 8 * i));
    }
    ihdr[8] = PNG_BIT_DEPTH;
    ihdr[9] = PNG_COLOR_TYPE_RGB;
    /* Bytes 10-12: deflate compression, adaptive filtering, no interlace (all 0). */

    buf_append(out, png_signature, sizeof png_signature);
    put_chunk(out, "IHDR", ihdr, sizeof ihdr);
    put_chunk(out, "IDAT", (const unsigned char *)idat.data, idat.len);
    put_chunk(out, "IEND", NULL, 0);
    buf_free(&idat);
}
