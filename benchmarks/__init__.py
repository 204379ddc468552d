"""Speed and memory benchmarks of keras-trt against SpikingJelly and snnTorch.

``python -m benchmarks.run`` (see ``benchmarks/README.md``). Not imported by the library or
its tests.
"""
