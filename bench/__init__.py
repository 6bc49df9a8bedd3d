"""fastann benchmark harness: `python -m bench <gemm|batched|train|predict|all> [--json] [--threads N] [--quick]`.

Every suite measures fastann next to NumPy (OpenBLAS), PyTorch CPU and Keras 3 (TensorFlow backend) where they are
installed, in the same run and with the same thread count. See bench/README.md.
"""
