"""Numba kernels of the accounting engine: terrain (slope, LS factor) and routing.

Kernels take numpy arrays and cell sizes in metres; the ``*_blockwise`` helpers apply
neighbourhood kernels to dask arrays with overlap. Import the submodule you need
(``liangshan.accounting.kernels.terrain``); this package imports nothing eagerly so that
compiling one family never pays for another.
"""
