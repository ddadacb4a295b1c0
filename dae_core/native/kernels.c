/* CPU kernels for the reference autoencoder's narrow layers (see dae_core/native/__init__.py).
 *
 * Every activation is channels-last, (B, H, W, C) in memory, float32. Each kernel handles the
 * exact shapes its Python caller checks; everything else goes through PyTorch. The batch is
 * split into one static slice per thread and per-thread sums are added in thread order, so a
 * result depends only on the inputs and the thread count.
 *
 * v8 is eight floats: one AVX register, or two SSE / NEON ones (GCC's vector extension).
 */
#include <stdlib.h>
#include <string.h>
#include <omp.h>

typedef float v8 __attribute__((vector_size(32)));
#define MAX_THREADS 256

static inline v8 ld(const float *p) { v8 v; memcpy(&v, p, sizeof v); return v; }
static inline void st(float *p, v8 v) { memcpy(p, &v, sizeof v); }
static inline v8 bc(float s) { return (v8){s, s, s, s, s, s, s, s}; }
static inline float hsum(v8 v) { return v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7]; }
static inline long first(long n, int t, int nt) { return n * t / nt; } /* thread t's slice of n */

/* Taps of a 3x3, stride-2, padding-1 transposed convolution that reach output o (of 2n):
 * o = 2i + k - 1, so an even o takes (k=1, i=o/2); an odd o takes (k=2, i=m) and (k=0, i=m+1). */
static inline int taps(int o, int n, int *k, int *i) {
    int m = o >> 1;
    if (!(o & 1)) { k[0] = 1; i[0] = m; return 1; }
    k[0] = 2; i[0] = m;
    if (m + 1 < n) { k[1] = 0; i[1] = m + 1; return 2; }
    return 1;
}

/* ---- Conv2d(1 -> 8, 3x3, stride 2, padding 1) on even H, W: x (B, H, W) -> y (B, H/2, W/2, 8).
 * w is (ky, kx, 8). Output (i, j) reads input rows 2i-1..2i+1 and columns 2j-1..2j+1. */
void conv1_forward(const float *x, const float *w, const float *bias, float *y,
                   int B, int H, int W, int nt) {
    int Ho = H / 2, Wo = W / 2;
    v8 wk[9], b8 = ld(bias);
    for (int k = 0; k < 9; k++) wk[k] = ld(w + 8 * k);
    #pragma omp parallel for num_threads(nt) schedule(static)
    for (int b = 0; b < B; b++) {
        const float *xb = x + (long)b * H * W;
        float *yb = y + (long)b * Ho * Wo * 8;
        for (int i = 0; i < Ho; i++) {
            const float *r1 = xb + 2 * i * W, *r2 = r1 + W, *r0 = i > 0 ? r1 - W : r1;  /* r0 unread at i = 0 */
            for (int j = 0; j < Wo; j++) {
                int c = 2 * j - 1;
                v8 a = b8;
                if (i > 0) {
                    if (j > 0) a += bc(r0[c]) * wk[0];
                    a += bc(r0[c + 1]) * wk[1] + bc(r0[c + 2]) * wk[2];
                }
                if (j > 0) a += bc(r1[c]) * wk[3] + bc(r2[c]) * wk[6];
                a += bc(r1[c + 1]) * wk[4] + bc(r1[c + 2]) * wk[5];
                a += bc(r2[c + 1]) * wk[7] + bc(r2[c + 2]) * wk[8];
                st(yb + (i * Wo + j) * 8, a);
            }
        }
    }
}

/* Its weight and bias gradients from gy (B, H/2, W/2, 8): gw (ky, kx, 8), gb (8). */
void conv1_backward(const float *x, const float *gy, float *gw, float *gb,
                    int B, int H, int W, int nt) {
    int Ho = H / 2, Wo = W / 2;
    v8 part[MAX_THREADS][10];
    int used = 1;
    #pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num(), T = omp_get_num_threads();
        if (t == 0) used = T;
        v8 a[10];
        for (int k = 0; k < 10; k++) a[k] = bc(0);
        for (long b = first(B, t, T); b < first(B, t + 1, T); b++) {
            const float *xb = x + b * H * W, *gyb = gy + b * Ho * Wo * 8;
            for (int i = 0; i < Ho; i++) {
                const float *r1 = xb + 2 * i * W, *r2 = r1 + W, *r0 = i > 0 ? r1 - W : r1;  /* r0 unread at i = 0 */
                for (int j = 0; j < Wo; j++) {
                    int c = 2 * j - 1;
                    v8 g = ld(gyb + (i * Wo + j) * 8);
                    if (i > 0) {
                        if (j > 0) a[0] += bc(r0[c]) * g;
                        a[1] += bc(r0[c + 1]) * g;
                        a[2] += bc(r0[c + 2]) * g;
                    }
                    if (j > 0) { a[3] += bc(r1[c]) * g; a[6] += bc(r2[c]) * g; }
                    a[4] += bc(r1[c + 1]) * g;
                    a[5] += bc(r1[c + 2]) * g;
                    a[7] += bc(r2[c + 1]) * g;
                    a[8] += bc(r2[c + 2]) * g;
                    a[9] += g;
                }
            }
        }
        memcpy(part[t], a, sizeof a);
    }
    for (int k = 0; k < 10; k++) {
        v8 s = part[0][k];
        for (int t = 1; t < used; t++) s += part[t][k];
        st(k < 9 ? gw + 8 * k : gb, s);
    }
}

/* ---- The stride-2, 3x3 layers between a small grid (h, w, CS channels) and a big one
 * (Hb, Wb, CB channels), padding p: small pixel (i, j) and big pixel (2i + ky - p, 2j + kx - p)
 * are joined by tap (ky, kx) where the big one is inside. Conv2d(CB -> CS) gathers big -> small
 * (`down`), ConvTranspose2d(CS -> CB) scatters small -> big (`up`); each is the other's input
 * gradient, and both share one weight gradient (`wgrad`). Weights are (ky, kx, CS, CB) for up
 * and wgrad, (ky, kx, CB, CS) for down. Each image is done tap by tap, so its data stays in L1
 * and a tap's weights in registers. taps.h holds the three, included once per pair of channel
 * counts: as compile-time constants they size the register arrays. */
static inline int tap_lo(int k, int p) { return k < p ? (p - k + 1) / 2 : 0; }
static inline int tap_hi(int k, int p, int n_small, int n_big) {
    int m = (n_big - 1 - k + p) / 2 + 1;
    return m < n_small ? m : n_small;
}
#define FOR_TAP_PIXELS(k)                                                          \
    int ky = (k) / 3, kx = (k) % 3;                                                \
    for (int i = tap_lo(ky, p); i < tap_hi(ky, p, h, Hb); i++)                     \
        for (int j = tap_lo(kx, p); j < tap_hi(kx, p, w, Wb); j++)
#define BIG(i, j) (((long)(2 * (i) + ky - p) * Wb + 2 * (j) + kx - p))

#define CS 16  /* Conv2d(8 -> 16) 14x14 -> 7x7 and ConvTranspose2d(16 -> 8) 7x7 -> 14x14 */
#define CB 8
#define NAME(f) f##_16_8
#include "taps.h"
#define CS 32  /* Conv2d(16 -> 32) 7x7 -> 3x3 and ConvTranspose2d(32 -> 16) 3x3 -> 7x7 */
#define CB 16
#define NAME(f) f##_32_16
#include "taps.h"

/* ---- ConvTranspose2d(8 -> 1, 3x3, stride 2, padding 1, output_padding 1):
 * x (B, H, W, 8) -> y (B, 2H, 2W). w is (ky, kx, 8). */
void upconv1_forward(const float *x, const float *w, const float *bias, float *y,
                     int B, int H, int W, int nt) {
    int Ho = 2 * H, Wo = 2 * W;
    v8 wk[9];
    for (int k = 0; k < 9; k++) wk[k] = ld(w + 8 * k);
    #pragma omp parallel for num_threads(nt) schedule(static)
    for (int b = 0; b < B; b++) {
        const float *xb = x + (long)b * H * W * 8;
        float *yb = y + (long)b * Ho * Wo;
        for (int oy = 0; oy < Ho; oy++) {
            int ky[2], iy[2], ny = taps(oy, H, ky, iy);
            for (int ox = 0; ox < Wo; ox++) {
                int kx[2], ix[2], nx = taps(ox, W, kx, ix);
                v8 a = bc(0);
                for (int p = 0; p < ny; p++)
                    for (int q = 0; q < nx; q++)
                        a += ld(xb + ((long)iy[p] * W + ix[q]) * 8) * wk[ky[p] * 3 + kx[q]];
                yb[oy * Wo + ox] = bias[0] + hsum(a);
            }
        }
    }
}

/* Its gradients from gy (B, 2H, 2W): gx (B, H, W, 8); gw (ky, kx, 8); gb (1). */
void upconv1_backward(const float *x, const float *w, const float *gy, float *gx, float *gw,
                      float *gb, int B, int H, int W, int nt) {
    int Wo = 2 * W;
    v8 wk[9], part[MAX_THREADS][10];
    for (int k = 0; k < 9; k++) wk[k] = ld(w + 8 * k);
    int used = 1;
    #pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num(), T = omp_get_num_threads();
        if (t == 0) used = T;
        v8 a[10];
        for (int k = 0; k < 10; k++) a[k] = bc(0);
        for (long b = first(B, t, T); b < first(B, t + 1, T); b++) {
            const float *xb = x + b * H * W * 8, *gyb = gy + b * 4 * H * W;
            float *gxb = gx + b * H * W * 8;
            float s = 0;
            for (int i = 0; i < 4 * H * W; i++) s += gyb[i];
            a[9][0] += s;
            for (int i = 0; i < H; i++)
                for (int j = 0; j < W; j++) {
                    v8 xv = ld(xb + ((long)i * W + j) * 8), d = bc(0);
                    for (int ky = (i == 0); ky < 3; ky++)
                        for (int kx = (j == 0); kx < 3; kx++) {
                            float g = gyb[(2 * i + ky - 1) * Wo + 2 * j + kx - 1];
                            d += bc(g) * wk[ky * 3 + kx];
                            a[ky * 3 + kx] += xv * bc(g);
                        }
                    st(gxb + ((long)i * W + j) * 8, d);
                }
        }
        memcpy(part[t], a, sizeof a);
    }
    for (int k = 0; k < 10; k++) {
        v8 s = part[0][k];
        for (int t = 1; t < used; t++) s += part[t][k];
        if (k < 9) st(gw + 8 * k, s); else *gb = s[0];
    }
}

/* ---- BatchNorm2d in training mode on C channels, C a multiple of 8 and at most 64: x is
 * (N, C) rows. Sums run in float over blocks of 64 rows and in double across blocks. */
#define BLOCK 64

/* Per-channel sums of f(row) over all rows, into out (C doubles); f picks what is summed. */
enum { SUM_X, SUM_DX2, SUM_G, SUM_GDX };
static void channel_sums(int what, const float *x, const float *g, const float *mean, long N,
                         int C, int nt, double *out) {
    double part[MAX_THREADS][64];
    int used = 1;
    #pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num(), T = omp_get_num_threads();
        if (t == 0) used = T;
        double *d = part[t];
        for (int c = 0; c < C; c++) d[c] = 0;
        long r0 = first(N, t, T), r1 = first(N, t + 1, T);
        for (long r = r0; r < r1; r += BLOCK) {
            long re = r + BLOCK < r1 ? r + BLOCK : r1;
            for (int c0 = 0; c0 < C; c0 += 8) {
                v8 s = bc(0), m = ld(mean + c0);
                for (long q = r; q < re; q++) {
                    v8 v = ld(x + q * C + c0);
                    if (what == SUM_X) s += v;
                    else if (what == SUM_DX2) s += (v - m) * (v - m);
                    else if (what == SUM_G) s += ld(g + q * C + c0);
                    else s += ld(g + q * C + c0) * (v - m);
                }
                for (int c = 0; c < 8; c++) d[c0 + c] += s[c];
            }
        }
    }
    for (int c = 0; c < C; c++) {
        double s = 0;
        for (int t = 0; t < used; t++) s += part[t][c];
        out[c] = s;
    }
}

/* y = (x - mean) * invstd * gamma + beta with the batch's mean and biased variance; returns
 * mean, invstd and the biased variance (C each) for the backward and the running statistics. */
void bn_forward(const float *x, const float *gamma, const float *beta, float *y, float *mean,
                float *invstd, float *var, long N, int C, float eps, int nt) {
    double s[64];
    float zero[64] = {0};
    channel_sums(SUM_X, x, 0, zero, N, C, nt, s);
    for (int c = 0; c < C; c++) mean[c] = (float)(s[c] / N);
    channel_sums(SUM_DX2, x, 0, mean, N, C, nt, s);
    float scale[64], shift[64];
    for (int c = 0; c < C; c++) {
        var[c] = (float)(s[c] / N);
        invstd[c] = (float)(1.0 / __builtin_sqrt(s[c] / N + eps));
        scale[c] = invstd[c] * gamma[c];
        shift[c] = beta[c] - mean[c] * scale[c];
    }
    #pragma omp parallel for num_threads(nt) schedule(static)
    for (long q = 0; q < N; q++)
        for (int c0 = 0; c0 < C; c0 += 8)
            st(y + q * C + c0, ld(x + q * C + c0) * ld(scale + c0) + ld(shift + c0));
}

/* The gradients from gy (N, C): gx (N, C), ggamma and gbeta (C). */
void bn_backward(const float *x, const float *gy, const float *gamma, const float *mean,
                 const float *invstd, float *gx, float *ggamma, float *gbeta, long N, int C, int nt) {
    double sg[64], sgx[64];
    channel_sums(SUM_G, x, gy, mean, N, C, nt, sg);
    channel_sums(SUM_GDX, x, gy, mean, N, C, nt, sgx);
    float k[64], mg[64], kx[64];
    for (int c = 0; c < C; c++) {
        gbeta[c] = (float)sg[c];
        ggamma[c] = (float)(sgx[c] * invstd[c]);
        k[c] = gamma[c] * invstd[c];  /* gx = k * (gy - mean(gy) - (x - mean) * invstd^2 * mean(gy * (x - mean))) */
        mg[c] = (float)(sg[c] / N);
        kx[c] = (float)(sgx[c] / N * invstd[c] * invstd[c]);
    }
    #pragma omp parallel for num_threads(nt) schedule(static)
    for (long q = 0; q < N; q++)
        for (int c0 = 0; c0 < C; c0 += 8) {
            v8 v = ld(x + q * C + c0) - ld(mean + c0);
            st(gx + q * C + c0, ld(k + c0) * (ld(gy + q * C + c0) - ld(mg + c0) - v * ld(kx + c0)));
        }
}
