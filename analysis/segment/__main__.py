"""``python -m analysis.segment``: export a cohort's stations, or segment one CT.

    python -m analysis.segment export --params params/x.yaml [--out DIR] [--all]
    python -m analysis.segment predict --ct CT --gtv GTV --out DIR [--gtvnd M] [--pid P]

``export`` (``make export PARAMS=...``): every analysed patient's stations as RTSTRUCT,
DICOM-SEG and NIfTI with a Slicer colour table (:mod:`analysis.segment.export_cohort`);
``--all`` exports every patient with a station map, QC-flagged ones too. ``predict``:
one CT (NIfTI or a DICOM folder) -> maps, QC verdict, exports
(:mod:`analysis.segment.one_ct`).
"""

from __future__ import annotations

import argparse
import sys

from analysis import paths
from analysis.params import ParamsError, load_params
from analysis.segment.export_cohort import export_cohort, export_volume
from analysis.segment.one_ct import predict_one
from analysis.store import CohortStore, StoreError


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m analysis.segment", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("export", help="export every analysed patient's stations")
    ex.add_argument("--params", default="params/default.yaml")
    ex.add_argument("--out", default=None, help="default data/exports/<run>/")
    ex.add_argument("--all", action="store_true",
                    help="every patient with a station map, QC-flagged ones too")
    pr = sub.add_parser("predict", help="segment one CT")
    pr.add_argument("--ct", required=True, help="NIfTI file or DICOM series folder")
    pr.add_argument("--gtv", required=True, help="NIfTI mask or RTSTRUCT of the series")
    pr.add_argument("--gtvnd", default=None, help="nodal gross tumour, NIfTI mask")
    pr.add_argument("--out", required=True)
    pr.add_argument("--pid", default="anonymous", help="the identity the files carry")
    pr.add_argument("--params", default="params/default.yaml")
    pr.add_argument("--checkpoint", default=None)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        params = load_params(paths.resolve(args.params))
        if args.command == "export":
            store = CohortStore.for_params(params)
            pids = [p for p in store.patient_ids() if store.has(p, export_volume(params))] \
                if args.all else None
            table = export_cohort(store, params, args.out, patients=pids)
            ok = table["status"] == "written"
            where = args.out or paths.stations_export_dir(params.run_name)
            print(f"exported {int(ok.sum())} patient(s) into {where}; "
                  f"{int((~ok).sum())} failed (exports.csv says why)")
            return 0
        res = predict_one(args.ct, args.gtv, args.out, params, gtvnd=args.gtvnd,
                          pid=args.pid, checkpoint=args.checkpoint)
    except (ParamsError, StoreError, ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    qc = res["qc"]
    print(f"stations: {qc['stations_found']} found; QC: "
          + ("usable" if qc["usable"] else f"flagged: {qc['reasons']}"))
    if res["export_error"]:
        print(f"RTSTRUCT / SEG not written: {res['export_error']}")
    print(f"written into {args.out}: {', '.join(sorted(res['files']))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
