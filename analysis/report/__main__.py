"""``python -m analysis.report --params params/x.yaml [--force] [--only NN ...]``."""

from analysis.report.runner import main

raise SystemExit(main())
