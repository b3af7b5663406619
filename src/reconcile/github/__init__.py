"""GitOps on GitHub: the sticky plan comment, the reviewed fingerprint, the drift issue."""
