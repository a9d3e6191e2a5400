"""
Fleet simulator
---------------

Deterministic simulated fleets with known, injected faults: boots and
crashes in memory (:func:`~kexec_lineage.sim.fleet.simulate`), walked boot by
boot as the kernels ran them (:mod:`kexec_lineage.sim.walk`), written as
per-host console logs (:mod:`kexec_lineage.sim.console_logs`) or into a fleet
database (:mod:`kexec_lineage.sim.database`, through the store's bulk load), and
the ground truth an analysis should recover
(:meth:`~kexec_lineage.sim.fleet.Fleet.truth`). No module here imports a
database library: the simulator runs without the ``server`` extra.
"""
