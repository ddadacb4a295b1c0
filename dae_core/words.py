"""How numbers read in what the product prints: '1 epoch', '30 epochs'."""


def count(n: int, noun: str) -> str:
    """1 -> '1 epoch', 30 -> '30 epochs', 1000 -> '1,000 epochs' (nouns that add an s)."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"
