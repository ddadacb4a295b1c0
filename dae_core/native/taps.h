/* up, down and wgrad for one pair of channel counts: kernels.c defines CS, CB and NAME, then
 * includes this file (see the comment there). */
/* y (B, Hb, Wb, CB) = bias (or 0) + sum over taps of x (B, h, w, CS) . w (ky, kx, CS, CB). */
void NAME(up)(const float *x, const float *wt, const float *bias, float *y, int B, int h, int w,
              int Hb, int Wb, int p, int nt) {
    #pragma omp parallel for num_threads(nt) schedule(static)
    for (int b = 0; b < B; b++) {
        const float *xb = x + (long)b * h * w * CS;
        float *yb = y + (long)b * Hb * Wb * CB;
        for (long q = 0; q < (long)Hb * Wb; q++)
            for (int g = 0; g < CB; g += 8) st(yb + q * CB + g, bias ? ld(bias + g) : bc(0));
        for (int k = 0; k < 9; k++) {
            v8 wk[CS * CB / 8];
            for (int c = 0; c < CS * CB / 8; c++) wk[c] = ld(wt + k * CS * CB + 8 * c);
            FOR_TAP_PIXELS(k) {
                const float *xp = xb + (i * w + j) * CS;
                float *yp = yb + BIG(i, j) * CB;
                for (int g = 0; g < CB / 8; g++) {
                    v8 a0 = bc(0), a1 = bc(0);
                    for (int c = 0; c < CS; c += 2) {
                        a0 += bc(xp[c]) * wk[c * (CB / 8) + g];
                        a1 += bc(xp[c + 1]) * wk[(c + 1) * (CB / 8) + g];
                    }
                    st(yp + 8 * g, ld(yp + 8 * g) + a0 + a1);
                }
            }
        }
    }
}

/* y (B, h, w, CS) = bias (or 0) + sum over taps of x (B, Hb, Wb, CB) . wt (ky, kx, CB, CS). */
void NAME(down)(const float *x, const float *wt, const float *bias, float *y, int B, int h, int w,
                int Hb, int Wb, int p, int nt) {
    #pragma omp parallel for num_threads(nt) schedule(static)
    for (int b = 0; b < B; b++) {
        const float *xb = x + (long)b * Hb * Wb * CB;
        float *yb = y + (long)b * h * w * CS;
        for (long q = 0; q < (long)h * w; q++)
            for (int g = 0; g < CS; g += 8) st(yb + q * CS + g, bias ? ld(bias + g) : bc(0));
        for (int k = 0; k < 9; k++) {
            v8 wk[CB * CS / 8];
            for (int c = 0; c < CB * CS / 8; c++) wk[c] = ld(wt + k * CB * CS + 8 * c);
            FOR_TAP_PIXELS(k) {
                const float *xp = xb + BIG(i, j) * CB;
                float *yp = yb + (i * w + j) * CS;
                for (int g = 0; g < CS / 8; g++) {
                    v8 a0 = bc(0), a1 = bc(0);
                    for (int c = 0; c < CB; c += 2) {
                        a0 += bc(xp[c]) * wk[c * (CS / 8) + g];
                        a1 += bc(xp[c + 1]) * wk[(c + 1) * (CS / 8) + g];
                    }
                    st(yp + 8 * g, ld(yp + 8 * g) + a0 + a1);
                }
            }
        }
    }
}

/* gw (ky, kx, CS, CB) = sum over images and taps of xs (B, h, w, CS) x xb (B, Hb, Wb, CB). */
int NAME(wgrad)(const float *xs, const float *xbig, float *gw, int B, int h, int w, int Hb, int Wb,
                int p, int nt) {
    const int n = 9 * CS * CB / 8;  /* v8 sums per thread */
    v8 *part = aligned_alloc(sizeof(v8), sizeof(v8) * n * nt);
    if (!part) return 1;
    int used = 1;
    #pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num(), T = omp_get_num_threads();
        if (t == 0) used = T;
        v8 *acc = part + (long)t * n;
        for (int c = 0; c < n; c++) acc[c] = bc(0);
        for (long b = first(B, t, T); b < first(B, t + 1, T); b++) {
            const float *sb = xs + b * h * w * CS, *bb = xbig + b * Hb * Wb * CB;
            for (int k = 0; k < 9; k++)
                for (int g = 0; g < CB / 8; g++) {
                    v8 a[CS];
                    for (int c = 0; c < CS; c++) a[c] = bc(0);
                    FOR_TAP_PIXELS(k) {
                        v8 v = ld(bb + BIG(i, j) * CB + 8 * g);
                        const float *sp = sb + (i * w + j) * CS;
                        for (int c = 0; c < CS; c++) a[c] += bc(sp[c]) * v;
                    }
                    for (int c = 0; c < CS; c++) acc[(k * CS + c) * (CB / 8) + g] += a[c];
                }
        }
    }
    for (int c = 0; c < n; c++) {
        v8 s = part[c];
        for (int t = 1; t < used; t++) s += part[(long)t * n + c];
        st(gw + 8 * c, s);
    }
    free(part);
    return 0;
}

#undef CS
#undef CB
#undef NAME
