"""infn.cloud: deploy research-computing services on a federation of OpenStack clouds."""

__version__ = "0.1.0"
