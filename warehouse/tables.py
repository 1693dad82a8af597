"""Specs of the raw-vault tables the loader writes: names, keys and column order.

The DDL lives once, in ``sql/``; these specs only say which columns the loader fills and in
what order (``tests/warehouse/test_raw_vault.py`` checks them against the live catalog).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from warehouse.hashing import hash_diff, late_parts

SCHEMA = "raw_vault"


@dataclass(frozen=True, slots=True)
class HubSpec:
    name: str
    key: str
    business_keys: tuple[str, ...]
    # Keys are new with (almost) every load, one per event: the loader copies them straight in
    # and lets the unique index catch the rare redelivery (see ``warehouse/loader.py``).
    per_event: bool = False

    @property
    def columns(self) -> tuple[str, ...]:
        """Columns the loader copies (``load_dts`` is stamped by the database)."""
        return (self.key, *self.business_keys, "record_source")


@dataclass(frozen=True, slots=True)
class LinkSpec:
    name: str
    key: str
    refs: tuple[str, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.key, *self.refs, "record_source")


@dataclass(frozen=True)
class SatSpec:
    name: str
    parent: str
    attributes: tuple[str, ...]
    sub_key: str | None = None  # multi-active satellites: one current row per (parent, sub_key)
    not_hashed: frozenset[str] = field(default_factory=lambda: frozenset({"changed_by"}))
    # Columns added after the satellite held rows, the last ones of ``attributes``: hashed only
    # when set, so old rows keep their hash diff (warehouse/hashing.py, "Late columns").
    late: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.late and self.attributes[-len(self.late) :] != self.late:
            raise ValueError(f"{self.name}: late columns must be the last attributes, in order")

    @property
    def key_columns(self) -> tuple[str, ...]:
        return (self.parent, self.sub_key) if self.sub_key else (self.parent,)

    @property
    def columns(self) -> tuple[str, ...]:
        return (*self.key_columns, "hash_diff", "record_source", *self.attributes)

    @property
    def copy_columns(self) -> tuple[str, ...]:
        """What the loader copies: PostgreSQL computes ``hash_diff`` itself (see loader)."""
        return (*self.key_columns, "record_source", *self.attributes)

    @property
    def hashed_attributes(self) -> tuple[str, ...]:
        return tuple(self.attributes[i] for i in self.hashed_positions)

    @cached_property
    def hashed_positions(self) -> tuple[int, ...]:
        """Positions in ``attributes`` that always take part in the hash diff, in declared order
        (the late columns, which take part only when set, are not among them)."""
        base = len(self.attributes) - len(self.late)
        return tuple(i for i, a in enumerate(self.attributes[:base]) if a not in self.not_hashed)

    def row(self, **values: Any) -> tuple[Any, ...]:
        """A row's attribute values by column name, in the declared order: writers name what they
        write, so two columns of one type cannot be swapped silently. An unknown name is an error,
        and so is a missing one unless it is a late column (NULL, as before it existed)."""
        unknown = values.keys() - self._attribute_set
        missing = [a for a in self.attributes if a not in values and a not in self.late]
        if unknown or missing:
            raise ValueError(f"{self.name}: unknown columns {sorted(unknown)}, missing {missing}")
        return tuple(values.get(a) for a in self.attributes)

    @cached_property
    def _attribute_set(self) -> frozenset[str]:
        return frozenset(self.attributes)

    def hash_diff(self, attributes: Sequence[Any]) -> bytes:
        """The hash diff of a row's attribute values (Python twin of the loader's SQL)."""
        base = len(self.attributes) - len(self.late)
        parts = [attributes[i] for i in self.hashed_positions]
        return hash_diff([*parts, *late_parts(zip(self.late, attributes[base:], strict=True))])


TableSpec = HubSpec | LinkSpec | SatSpec

# -- hubs ---------------------------------------------------------------------------------
HUB_CUSTOMER = HubSpec("hub_customer", "customer_hk", ("customer_bk",))
HUB_GATEWAY_KEY = HubSpec("hub_gateway_key", "gateway_key_hk", ("gateway_key_bk",))
HUB_PROVIDER = HubSpec("hub_provider", "provider_hk", ("provider_bk",))
HUB_MODEL = HubSpec("hub_model", "model_hk", ("provider_bk", "model_bk"))
HUB_PROVIDER_KEY = HubSpec("hub_provider_key", "provider_key_hk", ("provider_key_bk",))
HUB_ROUTING_RULE = HubSpec("hub_routing_rule", "routing_rule_hk", ("routing_rule_bk",))
HUB_END_USER = HubSpec("hub_end_user", "end_user_hk", ("customer_bk", "end_user_bk"))
HUB_API_REQUEST = HubSpec("hub_api_request", "api_request_hk", ("api_request_bk",), per_event=True)
HUB_COST_EVENT = HubSpec("hub_cost_event", "cost_event_hk", ("cost_event_bk",), per_event=True)
HUB_INVOICE = HubSpec("hub_invoice", "invoice_hk", ("invoice_bk",))
HUB_ADMIN_ACTION = HubSpec("hub_admin_action", "admin_action_hk", ("admin_action_bk",))

# -- links --------------------------------------------------------------------------------
LNK_API_REQUEST_CONTEXT = LinkSpec(
    "lnk_api_request_context",
    "api_request_context_hk",
    (
        "api_request_hk",
        "customer_hk",
        "gateway_key_hk",
        "provider_hk",
        "model_hk",
        "provider_key_hk",
        "routing_rule_hk",
        "end_user_hk",
    ),
)
LNK_COST_EVENT_API_REQUEST = LinkSpec(
    "lnk_cost_event_api_request", "cost_event_api_request_hk", ("cost_event_hk", "api_request_hk")
)
LNK_GATEWAY_KEY_CUSTOMER = LinkSpec(
    "lnk_gateway_key_customer", "gateway_key_customer_hk", ("gateway_key_hk", "customer_hk")
)
LNK_PROVIDER_KEY_CUSTOMER = LinkSpec(
    "lnk_provider_key_customer", "provider_key_customer_hk", ("provider_key_hk", "customer_hk", "provider_hk")
)
LNK_ROUTING_RULE_CUSTOMER = LinkSpec(
    "lnk_routing_rule_customer", "routing_rule_customer_hk", ("routing_rule_hk", "customer_hk")
)
LNK_END_USER_CUSTOMER = LinkSpec(
    "lnk_end_user_customer", "end_user_customer_hk", ("end_user_hk", "customer_hk")
)
LNK_MODEL_PROVIDER = LinkSpec("lnk_model_provider", "model_provider_hk", ("model_hk", "provider_hk"))
LNK_INVOICE_CUSTOMER = LinkSpec("lnk_invoice_customer", "invoice_customer_hk", ("invoice_hk", "customer_hk"))

# -- satellites ---------------------------------------------------------------------------
# sql/013: what a request used, and the token kinds and rates priced on their own.
_LATE_PRICES = ("cache_write_per_mtok", "input_audio_per_mtok")
_LATE_TOKENS = ("cache_write_tokens", "audio_input_tokens", "image_input_tokens")
_LATE_FEATURES = (
    "tools_offered",
    "tool_calls_returned",
    "input_modalities",
    "response_format",
    "reasoning_effort",
    "validation_status",
    "dropped_params",
    *_LATE_TOKENS,
)
_LATE_BILLING = ("usage_source",)  # sql/014: what the cost was counted from (NULL = the provider)
_LATE_TRACE = ("trace_id",)  # sql/022: the request's OpenTelemetry trace (NULL = not traced)
SAT_CUSTOMER_CONFIG = SatSpec(
    "sat_customer_config",
    "customer_hk",
    (
        "changed_by",
        "display_name",
        "tier",
        "status",
        "markup_pct",
        "budget_daily",
        "budget_monthly",
        "rate_limit_rpm",
        "rate_limit_tpm",
        "compliance_level",
        "retention_mode",
        "subscribed_services",
        "tax_rate_pct",
        "currency",
        "budget_webhook_url",
        "preferred_providers",
        "cache_mode",  # 010 from here
        "cache_ttl_s",
        "cache_similarity",
        "cache_price_per_request",
        "cache_price_per_1k_tokens",
        "pii_mode",
        "embedding_model",
        "drop_unsupported_params",  # 013
        "max_concurrent",  # 016
        "max_concurrent_per_key",
        "billing_mode",  # 017: prepaid | postpaid (NULL = postpaid)
        "low_balance_threshold",
        "rate_limit_rph",  # 021: pricing plans (NULL = the tier's default / none)
        "monthly_token_quota",
        "savings_share_pct",
        "markup_plan",
    ),
    late=(
        "drop_unsupported_params",
        "max_concurrent",
        "max_concurrent_per_key",
        "billing_mode",
        "low_balance_threshold",
        "rate_limit_rph",
        "monthly_token_quota",
        "savings_share_pct",
        "markup_plan",
    ),
)
SAT_GATEWAY_KEY_DETAILS = SatSpec(
    "sat_gateway_key_details",
    "gateway_key_hk",
    (
        "changed_by",
        "key_hash",
        "key_prefix",
        "label",
        "status",
        "expires_at",
        "grace_until",
        "budget_daily",
        "budget_monthly",
        "rate_limit_rpm",
        "rate_limit_tpm",
        "allowed_models",
    ),
)
SAT_PROVIDER_DETAILS = SatSpec(
    "sat_provider_details",
    "provider_hk",
    ("changed_by", "display_name", "api_style", "default_base_url", "hipaa_eligible", "is_active"),
)
SAT_MODEL_PRICE = SatSpec(
    "sat_model_price",
    "model_hk",
    (
        "currency",
        "input_per_mtok",
        "output_per_mtok",
        "cached_input_per_mtok",
        "reasoning_per_mtok",
        "price_source",
        "valid_from",
        "valid_to",
        *_LATE_PRICES,
    ),
    late=_LATE_PRICES,
)
SAT_PROVIDER_KEY_DETAILS = SatSpec(
    "sat_provider_key_details",
    "provider_key_hk",
    (
        "changed_by",
        "label",
        "api_style",
        "base_url",
        "ciphertext",
        "nonce",
        "wrapped_dek",
        "kek_id",
        "fingerprint",
        "status",
        "allowed_models",
        "budget_daily",
        "budget_monthly",
        "last_validated_at",
        "validation_status",
    ),
)
SAT_ROUTING_RULE_DEFINITION = SatSpec(
    "sat_routing_rule_definition",
    "routing_rule_hk",
    (
        "changed_by",
        "name",
        "priority",
        "conditions",
        "strategy",
        "target_provider",
        "target_model",
        "fallback_chain",
        "retry_policy",
        "is_active",
        "options",  # 006
    ),
)
SAT_API_REQUEST_DETAILS = SatSpec(
    "sat_api_request_details",
    "api_request_hk",
    (
        "request_ts",
        "completed_ts",
        "endpoint",
        "request_type",
        "priority",
        "requested_provider",
        "requested_model",
        "stream",
        "status",
        "http_status",
        "error_code",
        "error_message",
        "finish_reason",
        "latency_ms",
        "upstream_latency_ms",
        "route_reason",
        "attempt_count",
        "cache_status",
        "max_cost",
        "input_tokens",
        "output_tokens",
        "cached_input_tokens",
        "reasoning_tokens",
        "total_tokens",
        "client_ip",
        "user_agent",
        "compliance_flags",
        "pii_actions",
        *_LATE_FEATURES,
        *_LATE_BILLING,
        *_LATE_TRACE,
    ),
    late=(*_LATE_FEATURES, *_LATE_BILLING, *_LATE_TRACE),
)
SAT_API_REQUEST_ATTEMPT = SatSpec(
    "sat_api_request_attempt",
    "api_request_hk",
    (
        "provider_hk",
        "model_hk",
        "provider_key_hk",
        "provider_bk",
        "model_bk",
        "started_ts",
        "latency_ms",
        "outcome",
        "http_status",
        "error_class",
        "error_message",
        "input_tokens",
        "output_tokens",
    ),
    sub_key="attempt_no",
)
SAT_API_REQUEST_TAGS = SatSpec("sat_api_request_tags", "api_request_hk", ("tag_value",), sub_key="tag_key")
SAT_COST_EVENT_DETAILS = SatSpec(
    "sat_cost_event_details",
    "cost_event_hk",
    (
        "event_ts",
        "charge_class",
        "currency",
        "input_tokens",
        "output_tokens",
        "cached_input_tokens",
        "reasoning_tokens",
        "input_per_mtok",
        "output_per_mtok",
        "cached_input_per_mtok",
        "reasoning_per_mtok",
        "price_source",
        "is_priced",
        "provider_cost",
        "markup_pct",
        "markup_amount",
        "customer_cost",
        "baseline_model",
        "baseline_cost",
        "optimisation",
        *_LATE_TOKENS,
        *_LATE_PRICES,
    ),
    late=(*_LATE_TOKENS, *_LATE_PRICES),
)
SAT_INVOICE_SNAPSHOT = SatSpec(
    "sat_invoice_snapshot",
    "invoice_hk",
    (
        "invoice_number",
        "customer_bk",
        "period_start",
        "period_end",
        "status",
        "currency",
        "subtotal",
        "tax",
        "total",
        "lines",
        "content_hash",
        "issued_ts",
        "issuer",
    ),
)

LNK_ADMIN_ACTION_CUSTOMER = LinkSpec(
    "lnk_admin_action_customer", "admin_action_customer_hk", ("admin_action_hk", "customer_hk")
)
SAT_ADMIN_ACTION_DETAILS = SatSpec(
    "sat_admin_action_details",
    "admin_action_hk",
    (
        "action_ts",
        "actor",
        "action",
        "target",
        "outcome",
        "status_code",
        "detail",
        "source_ip",
        "user_agent",
    ),
)

# -- 006: budget alerts and webhook signing secrets ------------------------------------------
HUB_BUDGET_ALERT = HubSpec("hub_budget_alert", "budget_alert_hk", ("budget_alert_bk",))
LNK_BUDGET_ALERT_CUSTOMER = LinkSpec(
    "lnk_budget_alert_customer", "budget_alert_customer_hk", ("budget_alert_hk", "customer_hk")
)
SAT_BUDGET_ALERT_DELIVERY = SatSpec(
    "sat_budget_alert_delivery",
    "budget_alert_hk",
    (
        "scope",
        "period",
        "period_start",
        "threshold_pct",
        "budget",
        "spent",
        "webhook_url",
        "attempted_ts",
        "http_status",
        "outcome",
        "error",
    ),
    sub_key="attempt_no",
)
SAT_CUSTOMER_WEBHOOK_SECRET = SatSpec(
    "sat_customer_webhook_secret",
    "customer_hk",
    ("changed_by", "ciphertext", "nonce", "wrapped_dek", "kek_id", "fingerprint"),
)

# -- 010: what was sent and answered, per the customer's retention mode ---------------------
SAT_API_REQUEST_PAYLOAD = SatSpec(
    "sat_api_request_payload",
    "api_request_hk",
    (
        "retention_mode",
        "prompt_sha256",
        "completion_sha256",
        "data_key_id",
        "prompt_nonce",
        "prompt_ciphertext",
        "completion_nonce",
        "completion_ciphertext",
        "seal_error",  # sql/015: why an encrypted payload was kept as digests only
    ),
    late=("seal_error",),
)

# -- 011: audit exports and their chain --------------------------------------------------------
# sql/018: budgets on a customer, key, tag or end user (docs/billing/budgets.md).
HUB_BUDGET = HubSpec("hub_budget", "budget_hk", ("budget_bk",))
LNK_BUDGET_CUSTOMER = LinkSpec("lnk_budget_customer", "budget_customer_hk", ("budget_hk", "customer_hk"))
SAT_BUDGET_DEFINITION = SatSpec(
    "sat_budget_definition",
    "budget_hk",
    (
        "changed_by",
        "scope_type",
        "scope_value",
        "period",
        "limit_usd",
        "is_soft",
        "alert_thresholds",
        "is_active",
    ),
)
# sql/017: prepaid credit grants (docs/billing/credits.md); voided by a new row, never deleted.
HUB_CREDIT_GRANT = HubSpec("hub_credit_grant", "credit_grant_hk", ("credit_grant_bk",))
LNK_CREDIT_GRANT_CUSTOMER = LinkSpec(
    "lnk_credit_grant_customer", "credit_grant_customer_hk", ("credit_grant_hk", "customer_hk")
)
SAT_CREDIT_GRANT_DETAILS = SatSpec(
    "sat_credit_grant_details",
    "credit_grant_hk",
    (
        "changed_by",
        "status",
        "amount",
        "currency",
        "priority",
        "effective_at",
        "expires_at",
        "scope_kind",
        "scope_key",
        "scope_value",
        "description",
        "void_reason",
    ),
)
HUB_AUDIT_EXPORT = HubSpec("hub_audit_export", "audit_export_hk", ("audit_export_bk",))
LNK_AUDIT_EXPORT_CUSTOMER = LinkSpec(
    "lnk_audit_export_customer", "audit_export_customer_hk", ("audit_export_hk", "customer_hk")
)
SAT_AUDIT_EXPORT_MANIFEST = SatSpec(
    "sat_audit_export_manifest",
    "audit_export_hk",
    (
        "changed_by",
        "customer_bk",
        "period_from",
        "period_to",
        "as_of",
        "manifest_sha256",
        "previous_manifest_sha256",
        "signing_key_id",
        "requests",
        "customer_cost",
        "software_version",
    ),
)

# -- 019: spend-anomaly alerts (docs/billing/anomalies.md) ----------------------------------
HUB_ANOMALY_ALERT = HubSpec("hub_anomaly_alert", "anomaly_alert_hk", ("anomaly_alert_bk",))
LNK_ANOMALY_ALERT_CUSTOMER = LinkSpec(
    "lnk_anomaly_alert_customer", "anomaly_alert_customer_hk", ("anomaly_alert_hk", "customer_hk")
)
SAT_ANOMALY_ALERT_DELIVERY = SatSpec(
    "sat_anomaly_alert_delivery",
    "anomaly_alert_hk",
    (
        "hour_start",
        "kind",
        "gateway_key_id",
        "provider",
        "model",
        "requests",
        "requests_median",
        "customer_cost",
        "spend_median",
        "webhook_url",
        "attempted_ts",
        "http_status",
        "outcome",
        "error",
    ),
    sub_key="attempt_no",
)

# -- 020: what the providers say they charged (docs/billing/reconciliation.md) ---------------
HUB_PROVIDER_REPORT_LINE = HubSpec(
    "hub_provider_report_line", "provider_report_line_hk", ("provider_report_line_bk",)
)
HUB_PROVIDER_REPORT_IMPORT = HubSpec(
    "hub_provider_report_import", "provider_report_import_hk", ("provider_report_import_bk",)
)
LNK_PROVIDER_REPORT_LINE = LinkSpec(
    "lnk_provider_report_line",
    "provider_report_line_link_hk",
    ("provider_report_line_hk", "provider_hk", "model_hk", "provider_report_import_hk"),
)
SAT_PROVIDER_REPORT_LINE = SatSpec(
    "sat_provider_report_line",
    "provider_report_line_hk",
    (
        "provider_bk",
        "usage_date",
        "bucket_start",
        "bucket_end",
        "model_reported",
        "model",
        "project_id",
        "api_key_id",
        "line_item",
        "amount",
        "currency",
        "quantity",
        "quantity_unit",
        "input_tokens",
        "cached_input_tokens",
        "cache_write_tokens",
        "output_tokens",
        "requests",
        "is_deleted",
        "raw",
    ),
    not_hashed=frozenset({"raw"}),  # the line as received; its figures are what is compared
)
SAT_PROVIDER_REPORT_IMPORT = SatSpec(
    "sat_provider_report_import",
    "provider_report_import_hk",
    (
        "provider_bk",
        "usage_date",
        "source",
        "line_count",
        "amount_total",
        "currency",
        "content_sha256",
        "imported_by",
    ),
    not_hashed=frozenset({"imported_by"}),
)

# -- 023: console users (the web console's logins; gateway/admin/console_users.py) -------------
HUB_CONSOLE_USER = HubSpec("hub_console_user", "console_user_hk", ("console_user_bk",))
LNK_CONSOLE_USER_CUSTOMER = LinkSpec(
    "lnk_console_user_customer", "console_user_customer_hk", ("console_user_hk", "customer_hk")
)
SAT_CONSOLE_USER_DETAILS = SatSpec(
    "sat_console_user_details",
    "console_user_hk",
    ("changed_by", "email", "display_name", "role", "is_operator", "status"),
)
SAT_CONSOLE_USER_CREDENTIAL = SatSpec(
    "sat_console_user_credential", "console_user_hk", ("changed_by", "password_hash")
)

HUBS: tuple[HubSpec, ...] = (
    HUB_CUSTOMER,
    HUB_GATEWAY_KEY,
    HUB_PROVIDER,
    HUB_MODEL,
    HUB_PROVIDER_KEY,
    HUB_ROUTING_RULE,
    HUB_END_USER,
    HUB_API_REQUEST,
    HUB_COST_EVENT,
    HUB_INVOICE,
    HUB_ADMIN_ACTION,
    HUB_BUDGET_ALERT,
    HUB_ANOMALY_ALERT,
    HUB_AUDIT_EXPORT,
    HUB_BUDGET,
    HUB_CREDIT_GRANT,
    HUB_PROVIDER_REPORT_LINE,
    HUB_PROVIDER_REPORT_IMPORT,
    HUB_CONSOLE_USER,
)
LINKS: tuple[LinkSpec, ...] = (
    LNK_API_REQUEST_CONTEXT,
    LNK_COST_EVENT_API_REQUEST,
    LNK_GATEWAY_KEY_CUSTOMER,
    LNK_PROVIDER_KEY_CUSTOMER,
    LNK_ROUTING_RULE_CUSTOMER,
    LNK_END_USER_CUSTOMER,
    LNK_MODEL_PROVIDER,
    LNK_INVOICE_CUSTOMER,
    LNK_ADMIN_ACTION_CUSTOMER,
    LNK_BUDGET_ALERT_CUSTOMER,
    LNK_ANOMALY_ALERT_CUSTOMER,
    LNK_AUDIT_EXPORT_CUSTOMER,
    LNK_BUDGET_CUSTOMER,
    LNK_CREDIT_GRANT_CUSTOMER,
    LNK_PROVIDER_REPORT_LINE,
    LNK_CONSOLE_USER_CUSTOMER,
)
SATELLITES: tuple[SatSpec, ...] = (
    SAT_CUSTOMER_CONFIG,
    SAT_GATEWAY_KEY_DETAILS,
    SAT_PROVIDER_DETAILS,
    SAT_MODEL_PRICE,
    SAT_PROVIDER_KEY_DETAILS,
    SAT_ROUTING_RULE_DEFINITION,
    SAT_API_REQUEST_DETAILS,
    SAT_API_REQUEST_ATTEMPT,
    SAT_API_REQUEST_TAGS,
    SAT_COST_EVENT_DETAILS,
    SAT_INVOICE_SNAPSHOT,
    SAT_ADMIN_ACTION_DETAILS,
    SAT_API_REQUEST_PAYLOAD,
    SAT_BUDGET_ALERT_DELIVERY,
    SAT_ANOMALY_ALERT_DELIVERY,
    SAT_CUSTOMER_WEBHOOK_SECRET,
    SAT_AUDIT_EXPORT_MANIFEST,
    SAT_BUDGET_DEFINITION,
    SAT_CREDIT_GRANT_DETAILS,
    SAT_PROVIDER_REPORT_LINE,
    SAT_PROVIDER_REPORT_IMPORT,
    SAT_CONSOLE_USER_DETAILS,
    SAT_CONSOLE_USER_CREDENTIAL,
)
ALL_TABLES: tuple[TableSpec, ...] = (*HUBS, *LINKS, *SATELLITES)
