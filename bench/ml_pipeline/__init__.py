"""Benchmark of the ml/ restoration pipeline against CodeFormer's own inference script."""
