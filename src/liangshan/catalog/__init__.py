"""Ecological-product census, the catalogue (目录清单), monitoring, and open-data logs."""
