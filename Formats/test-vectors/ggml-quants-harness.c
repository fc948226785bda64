// Test-vector harness for ggml-quants.py: reads n f32 values (n a multiple of 256) from argv[2], runs ggml's
// quantize_row_<type>_ref and dequantize_row_<type> on them and writes the blocks, then the dequantized f32
// values, to argv[3]. With argv[4], m f32 importance values (an imatrix entry), it runs
// quantize_<type>(x, y, n / m rows, m per row, importance) instead, as llama-quantize --imatrix does, and writes
// only the blocks. Linked either with ggml-quants.c compiled as ggml-base compiles it, or with the built
// libggml-base.so itself (the generator checks that both give the same bytes).
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DECLARE(t)                                                  \
    void quantize_row_##t##_ref(const float *x, void *y, int64_t k); \
    void dequantize_row_##t(const void *x, float *y, int64_t k);
DECLARE(q5_0) DECLARE(q5_1) DECLARE(q2_K) DECLARE(q3_K) DECLARE(q4_K) DECLARE(q5_K) DECLARE(q6_K)

#define DECLARE_WEIGHTED(t) \
    size_t quantize_##t(const float *x, void *y, int64_t nrow, int64_t n_per_row, const float *w);
DECLARE_WEIGHTED(q4_0) DECLARE_WEIGHTED(q4_1) DECLARE_WEIGHTED(q5_0) DECLARE_WEIGHTED(q5_1) DECLARE_WEIGHTED(q2_K)
DECLARE_WEIGHTED(q3_K) DECLARE_WEIGHTED(q4_K) DECLARE_WEIGHTED(q5_K) DECLARE_WEIGHTED(q6_K)

static const struct {
    const char *name;
    size_t (*quantize)(const float *, void *, int64_t, int64_t, const float *);
} weighted[] = {
    {"q4_0", quantize_q4_0}, {"q4_1", quantize_q4_1}, {"q5_0", quantize_q5_0}, {"q5_1", quantize_q5_1},
    {"q2_K", quantize_q2_K}, {"q3_K", quantize_q3_K}, {"q4_K", quantize_q4_K}, {"q5_K", quantize_q5_K},
    {"q6_K", quantize_q6_K},
};

static float *read_f32(const char *path, long *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *n = ftell(f) / 4;
    fseek(f, 0, SEEK_SET);
    float *x = malloc((size_t)*n * 4);
    if (fread(x, 4, (size_t)*n, f) != (size_t)*n) x = NULL;
    fclose(f);
    return x;
}

static int run_weighted(const char *type, const char *in, const char *out, const char *importance) {
    int t = -1;
    for (size_t i = 0; i < sizeof weighted / sizeof weighted[0]; i++) if (!strcmp(type, weighted[i].name)) t = (int)i;
    long n, m;
    float *x = read_f32(in, &n), *w = read_f32(importance, &m);
    if (t < 0 || !x || !w || m == 0 || n % m) { fprintf(stderr, "bad type or input\n"); return 2; }
    void *q = calloc(1, (size_t)n * 4);
    size_t bytes = weighted[t].quantize(x, q, n / m, m, w);
    FILE *o = fopen(out, "wb");
    if (!o || fwrite(q, 1, bytes, o) != bytes) return 1;
    return fclose(o) != 0;
}

static const struct {
    const char *name;
    void (*quantize)(const float *, void *, int64_t);
    void (*dequantize)(const void *, float *, int64_t);
    int block_values, block_bytes;
} types[] = {
    {"q5_0", quantize_row_q5_0_ref, dequantize_row_q5_0, 32, 22},
    {"q5_1", quantize_row_q5_1_ref, dequantize_row_q5_1, 32, 24},
    {"q2_K", quantize_row_q2_K_ref, dequantize_row_q2_K, 256, 84},
    {"q3_K", quantize_row_q3_K_ref, dequantize_row_q3_K, 256, 110},
    {"q4_K", quantize_row_q4_K_ref, dequantize_row_q4_K, 256, 144},
    {"q5_K", quantize_row_q5_K_ref, dequantize_row_q5_K, 256, 176},
    {"q6_K", quantize_row_q6_K_ref, dequantize_row_q6_K, 256, 210},
};

int main(int argc, char **argv) {
    if (argc == 5) return run_weighted(argv[1], argv[2], argv[3], argv[4]);
    if (argc != 4) { fprintf(stderr, "usage: harness TYPE IN.f32 OUT [IMPORTANCE.f32]\n"); return 2; }
    int t = -1;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) if (!strcmp(argv[1], types[i].name)) t = (int)i;
    FILE *f = fopen(argv[2], "rb");
    if (t < 0 || !f) { fprintf(stderr, "bad type or input\n"); return 2; }
    fseek(f, 0, SEEK_END);
    long n = ftell(f) / 4;
    fseek(f, 0, SEEK_SET);
    float *x = malloc((size_t)n * 4), *y = malloc((size_t)n * 4);
    size_t qbytes = (size_t)n / types[t].block_values * types[t].block_bytes;
    void *q = calloc(1, qbytes);
    if (fread(x, 4, (size_t)n, f) != (size_t)n) return 1;
    fclose(f);
    types[t].quantize(x, q, n);
    types[t].dequantize(q, y, n);
    FILE *o = fopen(argv[3], "wb");
    if (!o || fwrite(q, 1, qbytes, o) != qbytes || fwrite(y, 4, (size_t)n, o) != (size_t)n) return 1;
    return fclose(o) != 0;
}
