"""Model input data: neighbour lists (:mod:`.neighbors`) and the batch (:mod:`.batch`).

Submodules are imported explicitly (``from lesdistill.data.batch import AtomicBatch``) so that
importing this package stays cheap.
"""
