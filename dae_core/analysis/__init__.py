"""What the pages and the command line read of a model: codes and samples, clusterings and their
scores, embeddings, denoising and sample quality (arrays in, arrays out)."""
