"""The browser harness shared by the tests and the benchmarks: `browser` runs the app in Chromium,
`explorer` drives the Generate page's latent explorer."""
