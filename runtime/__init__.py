"""edgec.runtime: load and run compiled artifacts with the TVM runtime library only."""
from edgec.runtime.artifact import Artifact
from edgec.runtime.manifest import Manifest, TensorSpec, read_manifest
from edgec.runtime.session import Session, load

__all__ = ["Artifact", "Manifest", "Session", "TensorSpec", "load", "read_manifest"]
