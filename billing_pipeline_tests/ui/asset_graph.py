"""Reading the asset graph as the browser drew it: node boxes and the edges between them.

Dagster's lineage view is one SVG: every asset node is a ``foreignObject`` box (its name in a
``data-tooltip``), every lineage edge a ``path`` with an arrow marker running from the upstream
box's border to the downstream one's. Mapping each edge's end points to the boxes they touch gives
the lineage exactly as shown on screen, whatever the layout direction.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

# The Debian package's binary; Playwright drives it, no browser download.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

_READ_GRAPH = """
() => {
  const nodes = [];
  for (const box of document.querySelectorAll('svg foreignObject')) {
    const label = box.querySelector('[data-tooltip]');
    if (!label) continue;
    nodes.push({
      name: label.getAttribute('data-tooltip'),
      x: parseFloat(box.getAttribute('x')), y: parseFloat(box.getAttribute('y')),
      width: parseFloat(box.getAttribute('width')), height: parseFloat(box.getAttribute('height')),
    });
  }
  const edges = [];
  for (const path of document.querySelectorAll('svg path[marker-end]')) {
    edges.push(path.getAttribute('d'));
  }
  return {nodes, edges};
}
"""

# an edge is drawn as a curve "M x0,y0 C c1x,c1y,c2x,c2y,x1,y1": it starts at the first point and
# ends at the last one
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e-?\d+)?")
# an arrow head sits a few pixels off the downstream box's border
_TOUCH_TOLERANCE_PX = 12.0


class NodeBox(BaseModel):
    name: str
    x: float
    y: float
    width: float
    height: float

    def touches(self, x: float, y: float) -> bool:
        margin = _TOUCH_TOLERANCE_PX
        return (
            self.x - margin <= x <= self.x + self.width + margin
            and self.y - margin <= y <= self.y + self.height + margin
        )


class DrawnGraph(BaseModel):
    nodes: list[NodeBox]
    edges: set[tuple[str, str]]  # (upstream, downstream) as drawn
    unmatched_edges: list[str]  # paths whose ends touch no box, or the same box


def read_drawn_graph(page: Any) -> DrawnGraph:
    """``page`` is a Playwright ``Page`` showing an asset lineage graph."""
    raw = page.evaluate(_READ_GRAPH)
    nodes = [NodeBox.model_validate(node) for node in raw["nodes"]]
    edges: set[tuple[str, str]] = set()
    unmatched: list[str] = []
    for path in raw["edges"]:
        numbers = [float(value) for value in _NUMBER.findall(path)]
        if not path.lstrip().startswith("M") or len(numbers) < 4:
            unmatched.append(path)
            continue
        (x0, y0), (x1, y1) = numbers[:2], numbers[-2:]
        sources = [n.name for n in nodes if n.touches(x0, y0)]
        targets = [n.name for n in nodes if n.touches(x1, y1)]
        if len(sources) == 1 and len(targets) == 1 and sources != targets:
            edges.add((sources[0], targets[0]))
        else:
            unmatched.append(path)
    return DrawnGraph(nodes=nodes, edges=edges, unmatched_edges=unmatched)
