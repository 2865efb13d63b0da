/* The PNG "drawn from the prompt" that a succeeded job serves: the size the
 * job asked for, bands of prompt colours, deflated with zlib. */
#include "png.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define BYTES_PER_PIXEL 3
#define PNG_BIT_DEPTH 8
#define PNG_COLOR_TYPE_RGB 2
#define PNG_FILTER_SUB 1
#define PNG_FILTER_UP 2
#define IHDR_LENGTH 13
#define DEFLATE_CHUNK 16384
/* Runs of zeros are nearly all there is to find: run-length matching finds
 * them as fast as the default matcher and packs them three times smaller. */
#define PNG_DEFLATE_LEVEL Z_BEST_SPEED
#define PNG_DEFLATE_STRATEGY Z_RLE
#define PNG_DEFLATE_MEM_LEVEL 8 /* zlib's default */
#define BANDS_MIN 3
#define BANDS_SPREAD 6
#define PALETTE_SIZE 4
/* Each row runs from this share of its colour (in 255ths) to all of it. */
#define SHADE_MIN 160u
static const unsigned char png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};

/* splitmix64: spreads one hash into as many unrelated colours as wanted. */
static uint64_t mix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

static void put_be32(unsigned char *at, uint32_t value)
{
    at[0] = (unsigned char)(value >> 24);
    at[1] = (unsigned char)(value >> 16);
    at[2] = (unsigned char)(value >> 8);
    at[3] = (unsigned char)value;
}

static void put_chunk(mock_buf *out, const char type[4], const unsigned char *data, size_t len)
{
    unsigned char word[4];
    uLong crc = crc32(0L, (const Bytef *)type, 4);
    if (len) crc = crc32(crc, data, (uInt)len);
    put_be32(word, (uint32_t)len);
    buf_append(out, word, sizeof word);
    buf_append(out, type, 4);
    buf_append(out, data, len);
    put_be32(word, (uint32_t)crc);
    buf_append(out, word, sizeof word);
}

/* Feeds `len` bytes (all of them) to the stream, appending what comes out. */
static void deflate_into(z_stream *stream, const unsigned char *data, size_t len, int flush,
                         mock_buf *out)
{
    unsigned char chunk[DEFLATE_CHUNK];
    int status;
    stream->next_in = (Bytef *)data;
    stream->avail_in = (uInt)len;
    do {
        stream->next_out = chunk;
        stream->avail_out = sizeof chunk;
        status = deflate(stream, flush);
        buf_append(out, chunk, sizeof chunk - stream->avail_out);
    } while (stream->avail_out == 0 || (flush == Z_FINISH && status != Z_STREAM_END));
}

/* The first row of a band in the band's colour, shaded left to right, with
 * the Sub filter: each byte is its pixel less the pixel to its left. */
static void band_row(uint64_t colour, unsigned width, unsigned char *row)
{
    unsigned char previous[BYTES_PER_PIXEL] = {0};
    row[0] = PNG_FILTER_SUB;
    for (unsigned x = 0; x < width; x++) {
        unsigned shade = SHADE_MIN + ((255u - SHADE_MIN) * x) / width;
        for (int c = 0; c < BYTES_PER_PIXEL; c++) {
            unsigned char value = (unsigned char)(((colour >> (8 * c)) & 0xFFu) * shade / 255u);
            row[1 + (size_t)x * BYTES_PER_PIXEL + (size_t)c] = (unsigned char)(value - previous[c]);
            previous[c] = value;
        }
    }
}

/* Horizontal bands: every row but a band's first repeats the row above, so
 * with the Up filter it is all zeros, which deflate squeezes to almost
 * nothing; the rows go to deflate one at a time, never a whole raw image. */
static void draw(uint64_t hash, unsigned width, unsigned height, mock_buf *idat)
{
    size_t row_bytes = 1 + (size_t)width * BYTES_PER_PIXEL;
    unsigned char *first_row = mock_calloc(row_bytes, 1);
    unsigned char *same_row = mock_calloc(row_bytes, 1);
    unsigned bands = BANDS_MIN + (unsigned)(hash % BANDS_SPREAD);
    unsigned band_height = (height + bands - 1) / bands;
    z_stream stream;

    memset(&stream, 0, sizeof stream);
    if (deflateInit2(&stream, PNG_DEFLATE_LEVEL, Z_DEFLATED, MAX_WBITS, PNG_DEFLATE_MEM_LEVEL,
                     PNG_DEFLATE_STRATEGY) != Z_OK)
        mock_out_of_memory();
    same_row[0] = PNG_FILTER_UP;
    for (unsigned y = 0; y < height; y++) {
        if (y % band_height == 0) {
            band_row(mix(hash + (y / band_height) % PALETTE_SIZE), width, first_row);
            deflate_into(&stream, first_row, row_bytes, Z_NO_FLUSH, idat);
        } else {
            deflate_into(&stream, same_row, row_bytes, Z_NO_FLUSH, idat);
        }
    }
    deflate_into(&stream, NULL, 0, Z_FINISH, idat);
    deflateEnd(&stream);
    free(first_row);
    free(same_row);
}

void png_from_prompt(const char *prompt, size_t prompt_len, unsigned width, unsigned height,
                     mock_buf *out)
{
    unsigned char ihdr[IHDR_LENGTH];
    mock_buf idat = {0};

    draw(mock_hash(prompt, prompt_len), width, height, &idat);

    memset(ihdr, 0, sizeof ihdr);
    put_be32(ihdr, width);
    put_be32(ihdr + 4, height);
    ihdr[8] = PNG_BIT_DEPTH;
    ihdr[9] = PNG_COLOR_TYPE_RGB;
    /* Bytes 10-12: deflate compression, adaptive filtering, no interlace (all 0). */

    buf_append(out, png_signature, sizeof png_signature);
    put_chunk(out, "IHDR", ihdr, sizeof ihdr);
    put_chunk(out, "IDAT", (const unsigned char *)idat.data, idat.len);
    put_chunk(out, "IEND", NULL, 0);
    buf_free(&idat);
}
