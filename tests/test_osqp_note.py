"""OSQP 1.x's stray "Polishing not needed" line (osqp/osqp#785) is kept off standard
output, and nothing else printed during the solve is lost."""

from __future__ import annotations

import numpy as np
import osqp
import scipy.sparse as sp
from vpp.coordination.admm.model import AdmmGenerator, SiteModel
from vpp.coordination.admm.osqp_note import NO_ACTIVE_SET, osqp_output_filtered
from vpp.coordination.admm.qp import DirectLocalProblem


def _interior_polished_solve() -> np.ndarray:
    """min 1/2|x|^2 - 1'x within [-10, 10]^2: the optimum (1, 1) touches no bound."""
    m = osqp.OSQP()
    m.setup(P=sp.csc_matrix(np.eye(2)), q=np.array([-1.0, -1.0]), A=sp.csc_matrix(np.eye(2)),
            l=np.full(2, -10.0), u=np.full(2, 10.0), verbose=False, polishing=True)
    return m.solve(raise_error=False).x


def test_the_line_is_removed_and_everything_else_kept(capfd):
    with osqp_output_filtered():
        print("before the solve", flush=True)
        x = _interior_polished_solve()
        print("after the solve", flush=True)
    np.testing.assert_allclose(x, [1.0, 1.0], atol=1e-6)
    assert capfd.readouterr().out == "before the solve\nafter the solve\n"


def test_output_comes_back_after_the_block_even_when_it_raises(capfd):
    try:
        with osqp_output_filtered():
            print("kept")
            raise RuntimeError("the solve failed")
    except RuntimeError:
        pass
    print("later", flush=True)
    assert capfd.readouterr().out == "kept\nlater\n"


def test_a_sites_exact_step_prints_nothing(capfd):
    site = SiteModel("gen", 4, 1.0, generator=AdmmGenerator(
        available_kw=(20.0, 20.0, 20.0, 20.0), fuel_eur_mwh=60.0))
    local = DirectLocalProblem(site)
    solution = local.solve(1.0, np.full(4, 10.0), exact=True)
    assert capfd.readouterr().out == ""
    # the exact step is inside the generator's range (no bound active: the case that
    # prints), near 10 kW less the fuel's pull of 0.06 EUR/kWh at rho = 1
    assert np.all(solution.schedule_kw > 9.0) and np.all(solution.schedule_kw < 10.0)


def test_unfiltered_the_library_prints_the_line(capfd):
    """What the filter is for (fixed upstream, this fails: the filter can then go)."""
    _interior_polished_solve()
    assert capfd.readouterr().out == NO_ACTIVE_SET
