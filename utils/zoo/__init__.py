"""The zoo: an embedded, procedural, deterministic, captioned 3D motion data set of animals (animo30) and
people (humanml22), written in the HumanML3D / AniMo4D folder format. Build it with
`python -m utils.zoo build --out data/zoo` or `build_zoo(out)`."""
from utils.zoo.build import ZooConfig, build_zoo

__all__ = ["ZooConfig", "build_zoo"]
