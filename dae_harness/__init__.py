"""What the tests and the benchmarks share, installed with the app: `browser` runs the app in
Chromium, `explorer` drives the Generate page's latent explorer, `pipelines` trains as the
benchmarks time it."""
