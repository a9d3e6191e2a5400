"""
Fleet simulator
---------------

Deterministic simulated fleets with known, injected faults: boots and
crashes in memory (:func:`~kexec_lineage.sim.fleet.simulate`), written to a
fleet database or as per-host console logs
(:mod:`kexec_lineage.sim.writers`), and the ground truth an analysis should
recover (:meth:`~kexec_lineage.sim.fleet.Fleet.truth`).
"""
