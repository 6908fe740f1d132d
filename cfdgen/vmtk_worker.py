"""Worker process for vmtk: ``python -m cfdgen.vmtk_worker JOB.pkl OUT.pkl``.

vmtk's Delaunay step can corrupt the heap and abort on rare inputs; running it in a fresh interpreter makes
such a crash an exit status the caller can retry, instead of the death of the caller.
"""

import pickle
import sys

from cfdgen.errors import GeometryError
from cfdgen.vmtk_centerlines import _centerlines_job


def main(job: str, out: str) -> int:
    with open(job, "rb") as f:
        args = pickle.load(f)
    try:
        result = _centerlines_job(*args)
    except GeometryError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    with open(out, "wb") as f:
        pickle.dump(result, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
