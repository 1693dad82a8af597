-- Effectivity spans of sat_routing_rule_definition (docs: the model's YAML).
{{ effectivity_spans('stg_sat_routing_rule_definition', 'stg_hub_routing_rule', 'routing_rule_hk', 'routing_rule_id') }}
