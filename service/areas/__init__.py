"""The jurisdiction tree: areas whose codes extend their parent's division code."""
