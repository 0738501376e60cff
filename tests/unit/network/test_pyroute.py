"""pyrt.network.pyroute: pyroute2 loaded in parts, its whole API still there for any other user.
Each case in a fresh interpreter (what it measures is what sys.modules holds)."""
import json
import subprocess
import sys

PROBE = """
import json, sys
import pyrt.network.links, pyrt.network.nft
from pyroute2 import IPRoute, NetlinkError
from pyrt.network.pyroute import preload
preload()
parts = sorted(m for m in sys.modules if m.startswith("pyroute2"))
import pyroute2
from pyroute2 import IPDB
out = {"parts": parts, "ndb": pyroute2.NDB.__module__, "ipdb": IPDB.__module__,
       "same": [IPRoute is pyroute2.IPRoute, NetlinkError is pyroute2.NetlinkError],
       "version": pyroute2.__version__}
try:
    pyroute2.no_such_name
except AttributeError as e:
    out["missing"] = str(e)
print(json.dumps(out))
"""


def test_only_the_parts_pyrt_uses_load_and_the_rest_stays_reachable():
    p = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert "pyroute2.iproute.linux" in out["parts"] and "pyroute2.nftables.main" in out["parts"]
    # what `import pyroute2` alone would have loaded besides: NDB, IPDB, conntrack, wireguard ...
    assert not [m for m in out["parts"] if m.split(".")[1:2] and m.split(".")[1] in ("ndb", "ipdb", "conntrack", "plan9", "wiset")]
    assert out["ndb"] == "pyroute2.ndb.main" and out["ipdb"].startswith("pyroute2.ipdb")
    assert out["same"] == [True, True]
    assert out["version"][0].isdigit()
    assert "no_such_name" in out["missing"]
