"""Supply–demand matching of eco-product listings (项目推介/撮合) and promotion events (推介会).

A demand names a product, a region prefix (GB/T 2260), a quantity, the worst
acceptable quality grade (1 best … 5) and a price range (fen per unit). A
listing matches when product and region agree, its grade is good enough and its
price lies in the range. Matches are ranked by a score in [0, 1] [NF: our own
weighting, no published rule]: 0.4 × price position (cheaper is better), 0.3 ×
quantity cover (min(listing, demand) / demand), 0.2 × quality ((5 − grade) / 4),
0.1 × region closeness (county-level match beats province-level).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from liangshan.errors import InvalidInput, NotFound
from liangshan.identity.access import Principal
from liangshan.identity.service import record
from liangshan.market.issuance import require_party
from liangshan.market.models import Demand, Listing, PromotionEvent
from liangshan.market.schemas import DemandIn, ListingIn, MatchOut

WEIGHTS = {"price": 0.4, "quantity": 0.3, "quality": 0.2, "region": 0.1}  # [NF]


def score_match(demand: Demand | DemandIn, listing: Listing | ListingIn) -> MatchOut | None:
    """The match of one listing to one demand, or None when a hard criterion fails."""
    if listing.product != demand.product:
        return None
    if not listing.region_code.startswith(demand.region_prefix):
        return None
    if listing.quality_grade > demand.max_grade:
        return None
    if not demand.price_min_fen <= listing.price_fen <= demand.price_max_fen:
        return None
    span = demand.price_max_fen - demand.price_min_fen
    price = 1.0 if span == 0 else (demand.price_max_fen - listing.price_fen) / span
    qty = min(listing.quantity, demand.quantity)
    cover = qty / demand.quantity
    quality = (5 - listing.quality_grade) / 4
    region = min(len(demand.region_prefix), 6) / 6 if demand.region_prefix else 0.0
    score = (WEIGHTS["price"] * price + WEIGHTS["quantity"] * cover
             + WEIGHTS["quality"] * quality + WEIGHTS["region"] * region)
    reasons = [f"price {listing.price_fen} fen in [{demand.price_min_fen}, "
               f"{demand.price_max_fen}]", f"covers {cover:.0%} of {demand.quantity}",
               f"grade {listing.quality_grade} ≤ {demand.max_grade}"]
    listing_id = getattr(listing, "id", 0) or 0
    return MatchOut(listing_id=listing_id, score=round(score, 6), quantity=qty,
                    price_fen=listing.price_fen, reasons=reasons)


def rank_matches(demand: Demand | DemandIn, listings: Iterable[Listing], limit: int = 10
                 ) -> list[MatchOut]:
    """Matching listings best first (score, then lower price, then older listing)."""
    found = [m for m in (score_match(demand, lst) for lst in listings) if m is not None]
    found.sort(key=lambda m: (-m.score, m.price_fen, m.listing_id))
    return found[:limit]


def add_listing(session: Session, actor: Principal, org_id: int, data: ListingIn) -> Listing:
    require_party(actor, org_id)
    row = Listing(seller_org_id=org_id, **data.model_dump())
    session.add(row)
    session.flush()
    record(session, actor, "create", "market_listing", row.id, region_code=data.region_code)
    return row


def add_demand(session: Session, actor: Principal, org_id: int, data: DemandIn) -> Demand:
    require_party(actor, org_id)
    if data.price_min_fen > data.price_max_fen:
        raise InvalidInput(f"price range [{data.price_min_fen}, {data.price_max_fen}] is empty")
    row = Demand(buyer_org_id=org_id, **data.model_dump())
    session.add(row)
    session.flush()
    record(session, actor, "create", "market_demand", row.id)
    return row


def list_listings(session: Session, *, product: str | None = None) -> list[Listing]:
    """Open listings, oldest first."""
    query = select(Listing).where(Listing.status == "open").order_by(Listing.id)
    if product:
        query = query.where(Listing.product == product)
    return list(session.scalars(query))


def matches_for(session: Session, demand_id: int, limit: int = 10) -> list[MatchOut]:
    """Ranked open listings for a stored demand."""
    demand = session.get(Demand, demand_id)
    if demand is None:
        raise NotFound(f"demand {demand_id} does not exist", hint="post it to /market/demands")
    listings = session.scalars(select(Listing).where(Listing.product == demand.product,
                                                     Listing.status == "open"))
    return rank_matches(demand, listings, limit)


def plan_event(session: Session, actor: Principal, *, name: str, region_code: str,
               held_on: date, demand_ids: Sequence[int], per_demand: int = 3) -> PromotionEvent:
    """A 推介会 presenting the best listings for each invited demand."""
    actor.require_write(region_code)
    listing_ids: list[int] = []
    for d in demand_ids:
        for m in matches_for(session, d, per_demand):
            if m.listing_id not in listing_ids:
                listing_ids.append(m.listing_id)
    row = PromotionEvent(name=name, region_code=region_code, held_on=held_on,
                         listing_ids=listing_ids, demand_ids=list(demand_ids))
    session.add(row)
    session.flush()
    record(session, actor, "create", "market_promotion_event", row.id, region_code=region_code)
    return row
