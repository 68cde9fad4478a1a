"""Run parameters: one schema, loaded from YAML, checked on load.

Every params file is validated against :class:`Params`. An unknown key or a value of
the wrong type raises :class:`ParamsError` naming the file and the dotted key, e.g.
``params/ci.yaml: phantom.n_included: Input should be a valid integer``.
Papermill injects the path of a params file into each notebook's ``parameters`` cell;
the notebook calls :func:`load_params` on it. A notebook opened in JupyterLab leaves
``params_file = None``: :func:`selected_params_file` then reads the run that
``make lab PARAMS=params/x.yaml`` selected (environment variable :data:`PARAMS_ENV`), else
:data:`DEFAULT_PARAMS_FILE`. An unknown key names the nearest valid one
(``phantom.n_incuded: unknown key (did you mean n_included?)``).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import types
import typing
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from analysis import paths

#: the environment variable naming the run the notebooks open on (set by ``make lab``)
PARAMS_ENV = "SCLC_PARAMS"
#: the params file a notebook opens on when neither papermill nor ``make lab`` names one
DEFAULT_PARAMS_FILE = "params/default.yaml"


class ParamsError(ValueError):
    """A params file that does not follow the schema."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GridParams(_Strict):
    """A CT grid: shape and spacing in the package's (z, y, x) order."""

    shape_zyx: tuple[int, int, int]
    spacing_mm: tuple[float, float, float]


class PhantomParams(_Strict):
    """The synthetic cohort (analysis.phantom)."""

    n_included: int = Field(180, ge=1)
    #: candidates screened; the surplus over n_included carries realistic defects
    n_screened: int = Field(200, ge=1)
    grid: GridParams
    #: "nifti" (fast) or "dicom" (CT series + RTSTRUCT, the real path)
    format: Literal["nifti", "dicom"] = "nifti"
    #: planted Cox hazard ratio for primary diameter >= 5 cm
    planted_hr_diameter: float = Field(1.635, gt=0)
    #: scale every Table 3 count to n_included (True) or keep the paper's 180 (False)
    scale_to_n: bool = True
    #: bulky nodes (half axis >= 10 mm) push vessels / airway / oesophagus / heart aside
    #: and their station holds them (analysis.phantom.mass_effect, via
    #: disease.make_patient); off: the cohort the shipped models were trained on
    mass_effect: bool = False


#: the default of ``cohort.na_values`` (and of :func:`analysis.io.tables.read_table`)
DEFAULT_NA_VALUES: tuple[str, ...] = ("", "NA", "NaN", "n/a", "N/A", "#N/A", "-", "--",
                                      "NULL")


class CohortParams(_Strict):
    """Where the cohort comes from and how its columns map to the canonical schema."""

    #: phantom: generate from `phantom`; export: a department export folder;
    #: clinical_only: a clinical table without images (e.g. Lung1)
    source: Literal["phantom", "export", "clinical_only"] = "phantom"
    #: folder of a department export (source = export); relative to the repo root
    export_dir: str | None = None
    #: clinical CSV (source = clinical_only, or to override the export's clinical.csv)
    clinical_csv: str | None = None
    #: name of the center, written in the cohort table's `center` column
    center: str = "phantom"
    #: source column -> canonical column (analysis.clinical.CANONICAL_COLUMNS)
    column_map: dict[str, str] = Field(default_factory=dict)
    #: canonical column -> {source value -> canonical value}
    category_map: dict[str, dict[str, str]] = Field(default_factory=dict)
    #: cell values read as missing (compared case-insensitively after stripping spaces):
    #: what spreadsheets and departments write for "no value" (#N/A is Excel's, - a dash)
    na_values: list[str] = Field(default_factory=lambda: list(DEFAULT_NA_VALUES))


class IngestParams(_Strict):
    """Reading, validating and de-identifying a department export (analysis.io, cohort)."""

    #: canonical structure -> accepted ROI names (case-insensitive)
    roi_synonyms: dict[str, list[str]] = Field(
        default_factory=lambda: {
            "gtv": ["GTV", "GTVp", "GTV_primary", "GTV-T"],
            "gtvnd": ["GTVnd", "GTV_LN", "GTVln", "GTV-N"],
            "ctv": ["CTV", "CTV_initial"],
        }
    )
    #: structures that must be present for a patient to be included
    required_structures: list[str] = Field(default_factory=lambda: ["gtv", "ctv"])
    #: geometry tolerance between a mask and its CT, in mm
    geometry_tolerance_mm: float = Field(0.01, gt=0)
    #: file holding the pseudonymisation key (kept outside reports/)
    pseudonym_key_file: str = ".secrets/pseudonym.key"
    #: NIfTI masks that are not 0/1: binarise at ``mask > mask_threshold`` (None: refuse)
    mask_threshold: float | None = None
    #: keep (with a recorded warning) a patient whose structure touches the image edge
    allow_clipped: bool = False
    #: least share of a GTV's / GTVnd's voxels inside the CTV (a CTV contains its gross
    #: tumour, ICRU 50/62; 5 % left for rasterising two outlines); below it: excluded
    gtv_in_ctv_min_share: float = Field(0.95, ge=0, le=1)
    #: keep (with a recorded warning) a patient whose GTV / GTVnd is not inside the CTV
    allow_gtv_outside_ctv: bool = False


class SegmentParams(_Strict):
    """DiUNet station segmentation (analysis.segment)."""

    train: bool = False
    #: the committed default is DiUNet (models/MODEL_CARD.md); the two UNet baselines
    #: (unet_ct, unet_ct_gtv) are trained in the same harness for the comparison
    checkpoint: str = "models/diunet_default.pt"
    architecture: Literal["diunet", "unet_ct", "unet_ct_gtv"] = "diunet"
    target_spacing_mm: tuple[float, float, float] = (5.0, 4.0, 4.0)
    patch_zyx: tuple[int, int, int] = (32, 48, 48)
    channels: tuple[int, ...] = (8, 16, 32, 64)
    #: convolutions per residual unit (MONAI ResidualUnit subunits / UNet num_res_units)
    num_res_units: int = Field(1, ge=1)
    max_epochs: int = Field(20, ge=1)
    batch_size: int = Field(2, ge=1)
    learning_rate: float = Field(2e-3, gt=0)
    early_stopping_patience: int = Field(8, ge=1)
    val_fraction: float = Field(0.1, gt=0, lt=1)
    #: connected components smaller than this are removed in post-processing (mm^3)
    min_island_mm3: float = Field(500.0, ge=0)
    num_threads: int = Field(2, ge=1)
    #: HU window mapped to [0, 1] for the CT input (low, high)
    hu_window: tuple[float, float] = (-1000.0, 1000.0)
    #: phantom patients generated for training (the last val_fraction validate)
    n_train_patients: int = Field(120, ge=2)
    #: phantom patients (other seeds) for the model card's held-out metrics
    n_heldout_patients: int = Field(16, ge=1)
    #: validate every this many epochs
    val_every: int = Field(2, ge=1)
    #: stop training after this many minutes (safety; the card says when it stopped)
    max_train_minutes: float = Field(35.0, gt=0)
    #: augmentation probabilities (left-right flip swaps R/L stations; the mediastinum is
    #: asymmetric, so a mirrored patient is implausible: off by default)
    flip_prob: float = Field(0.0, ge=0, le=1)
    affine_prob: float = Field(0.2, ge=0, le=1)
    intensity_prob: float = Field(0.3, ge=0, le=1)
    #: sliding-window overlap (fraction of the patch)
    sw_overlap: float = Field(0.25, ge=0, lt=1)
    #: infer only inside the box around the lungs (found from the CT) plus margins
    fast_path: bool = True
    roi_margin_mm: float = Field(20.0, ge=0)
    #: extra margin above the lung apices (supraclavicular stations 1R/1L)
    roi_superior_mm: float = Field(40.0, ge=0)
    #: training data: "phantom" patients generated in memory (the shipped models), or the
    #: cohort store's patients that have reference stations (stations_ref), on their grids
    train_source: Literal["phantom", "store"] = "phantom"
    #: fine-tune from this checkpoint (same architecture and channels) instead of from
    #: random weights; relative to the repo root
    init_checkpoint: str | None = None
    #: k >= 2: k-fold cross-validation over the store's patients (train_source: store);
    #: each patient's out-of-fold prediction goes into the store volume stations_cv
    cv_folds: int | None = Field(None, ge=2)
    #: "auto": CUDA (with automatic mixed precision) when available, else CPU
    device: Literal["auto", "cpu", "cuda"] = "auto"
    #: CT normalisation of newly trained models: "window" (HU window -> [0, 1], the shipped
    #: models) or "zscore" (nnU-Net: clip to the 0.5 / 99.5 percentiles of the training
    #: stations' voxels, then z-score); the checkpoint records its own
    normalization: Literal["window", "zscore"] = "window"
    #: test-time augmentation: average with the left-right mirrored prediction (L/R
    #: station labels swapped back)
    tta_mirror: bool = False
    #: random gamma (0.7-1.5) on the CT channel in training (nnU-Net); 0: off, as the
    #: shipped models were trained
    gamma_prob: float = Field(0.0, ge=0, le=1)
    #: train at the median voxel spacing of the training patients (nnU-Net) instead of
    #: target_spacing_mm (store training; the checkpoint records the spacing used)
    target_spacing_from_data: bool = False
    #: a model trained on the synthetic phantom (train_source: phantom) applied to a
    #: cohort that is not the phantom makes every prediction unusable (segmentation QC,
    #: reason phantom_model, with the command that trains on your own delineations);
    #: true keeps its predictions, with the same reason shown as a warning
    accept_phantom_model: bool = False
    #: 02_segment writes every analysed patient's stations (RTSTRUCT, DICOM-SEG, NIfTI +
    #: Slicer colour table) into data/exports/<run>/ (also: make export)
    export: bool = True
    #: exports of patients read from DICOM reference the department's own CT series
    #: (study, series, frame-of-reference and image UIDs; no CT copy is written), so a
    #: planning system puts them on its CT; false: a pseudonymous CT copy with fresh UIDs
    export_department_uids: bool = True


class PartitionParams(_Strict):
    """The 110 partition parameters (analysis.partition)."""

    #: "union": GTV means GTV ∪ GTVnd in the ratio features (SPEC); "primary": GTV only
    gtv_definition: Literal["union", "primary"] = "union"


class AnalysisParams(_Strict):
    """Which patients and which station maps every step after 02_segment analyses: the
    analysis ledger (analysis.ledger), built once by 03_partition and read by 04-07,
    Figure 1, the scorecard and the index."""

    #: station maps of the whole analysis (03's features, 04's sites): reference (from
    #: the export), predicted (by DiUNet, 02_segment), or cv (out-of-fold predictions of
    #: 02_segment's cross-validation, segment.cv_folds)
    stations: Literal["reference", "predicted", "cv"] = "predicted"
    #: false: patients whose predicted stations failed segmentation QC (store table
    #: segment_qc) are left out (ledger step 02_segment); true: kept, and counted on
    #: Figure 1's line "kept despite QC flag"
    include_qc_failed: bool = False
    #: 06_model and 07_model_eval are skipped (reason stated) when either outcome class
    #: of the analysed patients has fewer patients than this (and than model.cv_folds)
    min_per_class: int = Field(5, ge=1)
    #: 05_survival is skipped (reason stated) with fewer analysed patients than this, or
    #: with no event among them
    min_patients_survival: int = Field(10, ge=2)


class RecurrenceParams(_Strict):
    """Mapping recurrence sites to stations (analysis.recurrence)."""

    tolerance_mm: float = Field(10.0, ge=0)


class AgreementParams(_Strict):
    """AI-drawn vs reference stations (issue 25: analysis.partition.agreement,
    analysis.recurrence.agreement, analysis.model.agreement): how the 110 parameters, the
    recurrence map and the model change when the AI map replaces the reference."""

    #: second-observer perturbations of each reference map (dilate / erode / shift)
    n_perturbations: int = Field(5, ge=1)
    #: largest shift of a perturbed station in mm, per axis (drawn uniformly)
    max_shift_mm: float = Field(2.0, ge=0)
    #: voxels a perturbed station's boundary is dilated or eroded by
    dilate_erode_vox: int = Field(1, ge=0)
    #: bootstrap replicates of the paired CIs (top-4 share and AUC differences)
    n_boot: int = Field(500, ge=1)
    #: verdict rule, 1: a parameter agrees when its AI-vs-reference ICC(A,1) >= this
    #: (Koo and Li's "good")
    icc_good: float = Field(0.75, ge=0, le=1)
    #: verdict rule, 2: the share of estimable parameters that agree must be >= this
    min_share_good: float = Field(0.8, ge=0, le=1)
    #: verdict rule, 3: Cohen's kappa of the recurrence sites' stations must be >= this
    min_site_kappa: float = Field(0.8, ge=-1, le=1)
    #: verdict rule, 4: |nested-CV AUC (AI) - AUC (reference)| must be <= this
    max_auc_difference: float = Field(0.05, ge=0, le=1)
    #: false: rule 4 on the point estimate; true: the whole 95% CI of the difference must
    #: lie within +-max_auc_difference (equivalence: wide CIs of small cohorts fail it)
    auc_equivalence: bool = False


class SurvivalParams(_Strict):
    """Local control statistics (analysis.survival)."""

    #: variables with a univariate p below this enter the multivariable Cox model
    univariate_p_threshold: float = Field(0.05, gt=0, le=1)
    #: horizon for "3-year local control"
    horizon_months: float = Field(36.0, gt=0)
    #: replicates of the planted-HR coverage simulation
    coverage_replicates: int = Field(200, ge=1)
    #: variables of Table 4 (canonical column names)
    variables: list[str] = Field(
        default_factory=lambda: [
            "sex", "age_ge_60", "histology", "location", "t_stage", "n_stage",
            "tnm_stage", "paraneoplastic", "svc_syndrome", "smoking_bin",
            "diameter_ge_5cm", "chemo",
        ]
    )
    #: time and event columns (canonical names)
    time_col: str = "lc_time_months"
    event_col: str = "lc_event"
    #: what the time and event columns measure (axis labels, captions)
    endpoint_label: str = "Local control"
    #: variables with a Kaplan-Meier figure (Figure 3: diameter_ge_5cm)
    km_groups: list[str] = Field(default_factory=lambda: ["diameter_ge_5cm"])
    #: Greenwood confidence-interval transform of Kaplan-Meier estimates
    #: ("log-log": lifelines' default; "log": R survfit's default)
    conf_type: Literal["log-log", "log", "plain"] = "log-log"
    #: cohort size of each coverage replicate (None: the phantom's n_included)
    coverage_n: int | None = Field(None, ge=10)
    #: show the paper's numbers beside ours (False for a cohort the paper did not study,
    #: e.g. Lung1 overall survival)
    show_paper: bool = True
    #: covariates of the pre-specified multivariable Cox model (and of the Fine-Gray
    #: model), fixed before the data are seen so that its inference is valid. Default:
    #: the paper's covariates, the five it reports as related to local control (gender,
    #: age >= 60, T stage, smoking index, tumour size; paper abstract and Table 4)
    prespecified_covariates: list[str] = Field(
        default_factory=lambda: ["sex", "age_ge_60", "t_stage", "smoking_bin",
                                 "diameter_ge_5cm"]
    )


class ModelParams(_Strict):
    """The recurrence model (analysis.model)."""

    #: "any": recurrence within follow-up; "horizon": recurrence within horizon_months
    label: Literal["any", "horizon"] = "any"
    horizon_months: float = Field(36.0, gt=0)
    corr_threshold: float = Field(0.9, gt=0, le=1)
    test_size: float = Field(0.2, gt=0, lt=1)
    cv_folds: int = Field(5, ge=2)
    #: features removed per RFE round (the paper's is unknown, presumably 1; 5 makes RFECV
    #: ~5x cheaper: at n = 180 one fit of the procedure is then ~0.5 min on 2 cores)
    rfe_step: int = Field(5, ge=1)
    #: the grid of the final forest (the paper searched depth and number of trees; a
    #: 2 x 1 x 2 grid halves the cost of a fit against 3 x 2 x 2, measured at n = 180)
    grid_max_depth: list[int | None] = Field(default_factory=lambda: [3, None])
    grid_n_estimators: list[int] = Field(default_factory=lambda: [150])
    grid_min_samples_leaf: list[int] = Field(default_factory=lambda: [1, 5])
    #: trees of the forest used inside RFECV
    rfe_n_estimators: int = Field(50, ge=1)
    #: bootstrap resamples of fixed predictions (Table 7 CIs, ROC bands, nested-CV CI)
    n_bootstrap: int = Field(200, ge=1)
    nested_repeats: int = Field(2, ge=1)
    nested_outer_folds: int = Field(5, ge=2)
    n_jobs: int = 2
    #: add clinical variables to the 110 partition features
    include_clinical: bool = False
    #: bootstrap refits of the whole procedure for the 0.632+ AUC. 100: one resample's
    #: out-of-bag AUC has SD 0.06-0.08 and the rule multiplies it by up to ~1.3, so the
    #: Monte Carlo SE is about 1.3 * 0.07 / sqrt(100) = 0.009 < 0.01 (reported beside the
    #: estimate; the note flags one above 0.01). About 1 + 100 fits of the procedure.
    n_632plus_bootstrap: int = Field(100, ge=1)
    #: repeats of permutation importance on the validation split
    permutation_repeats: int = Field(10, ge=1)
    #: risks are clipped to [eps, 1 - eps] before the logit of the calibration intercept
    #: and slope (a forest says exactly 0 or 1); the slope depends on it, and 07 shows
    #: the slope at 1e-4, 1e-3 and 1e-2 beside this value
    calibration_risk_eps: float = Field(1e-3, gt=0, lt=0.5)
    #: Riley et al.'s minimum sample size (TRIPOD+AI item 10): the anticipated Cox-Snell
    #: R2 of the model as a share of its maximum for the prevalence; 0.15 (a Nagelkerke R2
    #: of 0.15) is the conservative value Riley et al. (Stat Med 2019;38:1276) suggest
    #: when no previous model reports one
    sample_size_r2_share_of_max: float = Field(0.15, gt=0, lt=1)
    #: bins of the calibration curve (quantile bins of the out-of-fold risk)
    calibration_bins: int = Field(5, ge=2)
    #: thresholds of the decision curve (probability), from, to, step
    decision_thresholds: tuple[float, float, float] = (0.05, 0.95, 0.05)


class ReportParams(_Strict):
    """make report (analysis.report)."""

    notebooks: list[str] = Field(
        default_factory=lambda: [
            "01_ingest", "02_segment", "03_partition", "04_recurrence", "05_survival",
            "06_model", "07_model_eval",
        ]
    )
    #: patients given a standalone 3D page (best, median, worst Dice first); 0: none
    n_3d_pages: int = Field(3, ge=0)


class Params(_Strict):
    """All run parameters."""

    run_name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    seed: int = 20250501
    #: per-patient steps (analysis.scheduling.parallel.map_patients, docs/distributed.md):
    #: serial | processes | dask:local | dask:tcp://host:port (an existing Dask cluster)
    scheduler: str = Field(
        "processes", pattern=r"^(serial|processes|dask:(local|(tcp|tls|ucx|ws|wss|inproc)://\S+))$")
    #: worker processes (processes, dask:local); ignored when joining a cluster
    n_workers: int = Field(2, ge=1)
    cohort: CohortParams = CohortParams()
    phantom: PhantomParams | None = None
    ingest: IngestParams = IngestParams()
    segment: SegmentParams = SegmentParams()
    partition: PartitionParams = PartitionParams()
    analysis: AnalysisParams = AnalysisParams()
    recurrence: RecurrenceParams = RecurrenceParams()
    survival: SurvivalParams = SurvivalParams()
    model: ModelParams = ModelParams()
    agreement: AgreementParams = AgreementParams()
    report: ReportParams = ReportParams()
    #: the params file these were loaded from, as ``make`` names it (``PARAMS=`` hints);
    #: private: not part of the digest
    _source: str | None = PrivateAttr(None)

    @property
    def source(self) -> str:
        """The params file as ``PARAMS=`` takes it (repo-relative where it can be);
        ``<your params file>`` for params not read from a file."""
        return self._source or "<your params file>"

    @property
    def is_phantom(self) -> bool:
        """True when the cohort is the synthetic phantom (every report must say so)."""
        return self.cohort.source == "phantom"

    def digest(self) -> str:
        """SHA-256 of the canonical JSON of these parameters (for manifests and caches)."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()


def _model_of(annotation) -> type[BaseModel] | None:
    """The pydantic model a field holds (``X``, ``X | None``), else None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                return arg
    return None


def valid_keys(loc: tuple) -> list[str]:
    """The keys the schema allows beside the key at ``loc`` (a dotted path as a tuple);
    empty when ``loc`` does not lead through models."""
    model: type[BaseModel] | None = Params
    for part in loc[:-1]:
        field = model.model_fields.get(str(part)) if model is not None else None
        model = _model_of(field.annotation) if field is not None else None
        if model is None:
            return []
    return list(model.model_fields)


def suggest_key(loc: tuple) -> str:
    """`` (did you mean X?)`` for the valid key nearest to an unknown one, else ``""``.

    Example: ``("phantom", "n_incuded")`` -> ``" (did you mean n_included?)"``.
    """
    close = difflib.get_close_matches(str(loc[-1]), valid_keys(loc), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def _format_errors(source: str, err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = ("unknown key" + suggest_key(e["loc"]) if e["type"] == "extra_forbidden"
               else e["msg"])
        lines.append(f"{source}: {key}: {msg}")
    return "\n".join(lines)


def parse_params(data: dict, source: str = "<dict>") -> Params:
    """Validate a params mapping; errors name ``source`` and the dotted key."""
    if not isinstance(data, dict):
        raise ParamsError(f"{source}: top level must be a mapping, got {type(data).__name__}")
    try:
        params = Params.model_validate(data)
    except ValidationError as err:
        raise ParamsError(_format_errors(source, err)) from None
    if params.is_phantom and params.phantom is None:
        raise ParamsError(f"{source}: phantom: required when cohort.source is 'phantom'")
    return params


def selected_params_file(params_file: str | Path | None = None) -> str | Path:
    """The params file a notebook runs on: ``params_file`` when given (papermill's
    injected value wins), else the run ``make lab PARAMS=...`` selected (environment
    variable :data:`PARAMS_ENV`), else :data:`DEFAULT_PARAMS_FILE`."""
    if params_file is not None:
        return params_file
    return os.environ.get(PARAMS_ENV) or DEFAULT_PARAMS_FILE


def load_params(path: str | Path | None = None) -> Params:
    """Load and validate a params YAML file (path absolute or relative to the repo root;
    None: :func:`selected_params_file`)."""
    p = paths.resolve(selected_params_file(path))
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as err:
        raise ParamsError(f"{p}: cannot read params file ({err.strerror}); params "
                          f"files of this repository: {', '.join(_params_files())}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ParamsError(f"{p}: not valid YAML: {err}") from None
    source = (p.relative_to(paths.REPO_ROOT).as_posix() if p.is_relative_to(paths.REPO_ROOT)
              else str(p))
    params = parse_params(data, source=source)
    params._source = source
    return params


def _params_files() -> list[str]:
    return sorted(f"params/{f.name}" for f in paths.PARAMS_DIR.glob("*.yaml"))
