"""Viewers of CTs and station maps; they import no step, only the floor.

- :mod:`analysis.viewers.render`: pure drawing (slices, outlines, station colours);
- :mod:`analysis.viewers.slices`: the offline slice viewer (:func:`show`);
- :mod:`analysis.viewers.volume`: the offline 3D page and widget (NiiVue).
"""

from __future__ import annotations

from analysis.viewers.render import PLANES, compose, plane_aspect, snapshot_png
from analysis.viewers.slices import show
from analysis.viewers.volume import Scene, widget, write_page

__all__ = ["PLANES", "Scene", "compose", "plane_aspect", "show", "snapshot_png", "widget",
           "write_page"]
