"""GEP regulating-service models: one pure function per method (GEP_METHOD §6).

Each function takes numpy, dask or xarray arrays (or scalars), states the unit of every input
and output in its docstring, and cites its source. InVEST-compatible models live in
:mod:`liangshan.accounting.invest`.
"""

from liangshan.accounting.models.carbon import (
    carbon_sequestration_nep,
    carbon_sequestration_rate,
    heterotrophic_respiration_pei,
    heterotrophic_respiration_pei_annual,
    net_ecosystem_production,
    oxygen_release,
)
from liangshan.accounting.models.climate import (
    climate_regulation,
    climate_regulation_evaporation,
    climate_regulation_transpiration,
)
from liangshan.accounting.models.flood import (
    flood_regulation,
    flood_storage_lake_rao,
    flood_storage_marsh,
    flood_storage_reservoir,
    flood_storage_vegetation,
)
from liangshan.accounting.models.purification import (
    air_purification,
    allocate_by_capacity,
    purification_capacity,
    water_purification,
)
from liangshan.accounting.models.soil import (
    cover_management_cai,
    fractional_vegetation_cover,
    sediment_avoided,
    soil_erodibility_epic,
    soil_nutrient_retained,
    soil_retention_rusle,
)
from liangshan.accounting.models.water import water_conservation_balance

__all__ = [
    "air_purification",
    "allocate_by_capacity",
    "carbon_sequestration_nep",
    "carbon_sequestration_rate",
    "climate_regulation",
    "climate_regulation_evaporation",
    "climate_regulation_transpiration",
    "cover_management_cai",
    "flood_regulation",
    "flood_storage_lake_rao",
    "flood_storage_marsh",
    "flood_storage_reservoir",
    "flood_storage_vegetation",
    "fractional_vegetation_cover",
    "heterotrophic_respiration_pei",
    "heterotrophic_respiration_pei_annual",
    "net_ecosystem_production",
    "oxygen_release",
    "purification_capacity",
    "sediment_avoided",
    "soil_erodibility_epic",
    "soil_nutrient_retained",
    "soil_retention_rusle",
    "water_conservation_balance",
    "water_purification",
]
