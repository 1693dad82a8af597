-- Effectivity spans of sat_provider_key_details (docs: the model's YAML).
{{ effectivity_spans('stg_sat_provider_key_details', 'stg_hub_provider_key', 'provider_key_hk', 'provider_key_id') }}
