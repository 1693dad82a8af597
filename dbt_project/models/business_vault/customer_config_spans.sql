-- Effectivity spans of sat_customer_config (docs: the model's YAML).
{{ effectivity_spans('stg_sat_customer_config', 'stg_hub_customer', 'customer_hk', 'customer_slug') }}
