-- Effectivity spans of sat_gateway_key_details (docs: the model's YAML).
{{ effectivity_spans('stg_sat_gateway_key_details', 'stg_hub_gateway_key', 'gateway_key_hk', 'gateway_key_id') }}
