"""The GEP/VEP accounting engine: arrays and tables in, tidy tables out.

It imports nothing from the platform (DESIGN §3 rule 1). Entry points:
:func:`liangshan.accounting.physical.physical_account` (the physical account of a study
area), :mod:`liangshan.accounting.grid` (alignment and zones), :mod:`.models` (one pure
function per method) and :mod:`.kernels` (numba kernels).
"""
