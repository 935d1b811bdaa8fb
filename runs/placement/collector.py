"""The garbage collector while a fleet of site agents is open in this process (the local
placement's, a site process's)."""

from __future__ import annotations

import gc
import threading

# The garbage collector and a built swarm. A swarm is hundreds of thousands of long-lived
# objects (agents, their devices, handlers, buffers) that are in no garbage; every full
# collection walked them all again, about a tenth of a 1,000-site run's time. Once a
# fleet is built they are moved out of the collector's sight (gc.freeze, garbage collected
# first so none of it is kept), and given back when the last open fleet of the process
# closes (gc.unfreeze: what became garbage in between is then collected as usual). A
# process-wide setting: a local fleet is what a one-process run is, and a site process's
# sites (runs/placement/site_process.py) are what that process is.
#
# While a fleet is open the youngest generation is also collected less often: a step
# keeps a few objects per message alive until its end (the trace's rows, the offers and
# bids), which at the default threshold (700 objects) took a 1,000-site step through
# about twenty collections, up to a tenth of the run again. Under FLEET_GC_THRESHOLD a
# 1,000-site step frees what it made before a collection is due (none in 96 steps); a
# 10,000-site step meets one or two; cyclic garbage waits that long at most.
FLEET_GC_THRESHOLD = 50_000
"""Objects allocated (net) between two collections of the youngest generation while a
local fleet is open (the interpreter's default is 700)."""

_frozen_fleets = 0
_thresholds: tuple[int, ...] = ()
_freezing = threading.Lock()


def fleet_built() -> None:
    """A fleet of this process is built: collect, freeze what lives, raise the youngest
    generation's threshold (the first open fleet's)."""
    global _frozen_fleets, _thresholds
    with _freezing:
        gc.collect()
        gc.freeze()
        if _frozen_fleets == 0:
            _thresholds = gc.get_threshold()
            gc.set_threshold(max(FLEET_GC_THRESHOLD, _thresholds[0]), *_thresholds[1:])
        _frozen_fleets += 1


def fleet_closed() -> None:
    """A fleet built with :func:`fleet_built` closed: the last one gives the collector
    back its thresholds and its frozen objects."""
    global _frozen_fleets
    with _freezing:
        _frozen_fleets -= 1
        if _frozen_fleets == 0:
            gc.set_threshold(*_thresholds)
            gc.unfreeze()

__all__ = ["FLEET_GC_THRESHOLD", "fleet_built", "fleet_closed"]
