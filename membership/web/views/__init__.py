"""HTTP views, one module per kind of resource. They translate; the tree decides."""
