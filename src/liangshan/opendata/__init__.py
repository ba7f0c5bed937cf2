"""The open data API: public reads of the registry, catalogue and monitoring."""
