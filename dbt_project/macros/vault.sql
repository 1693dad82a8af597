{#- The raw vault's two conventions, written once for every staging view (docs: vault_conventions). -#}

{#- The ghost record's hash key: 32 zero bytes, present in every hub (sql/002; warehouse/hashing.py GHOST_HK). -#}
{% macro ghost_key() -%}
decode(repeat('00', 32), 'hex')
{%- endmacro %}

{% macro is_ghost(hash_key_column) -%}
{{ hash_key_column }} = {{ ghost_key() }}
{%- endmacro %}

{#- Virtual end-dating: the raw vault stores no end dates, so a satellite row ends where the next row for
    the same parent key (and, for multi-active satellites, the same sub-key) was loaded. -#}
{% macro end_dating(partition_by) -%}
    lead(load_dts) over (partition by {{ partition_by }} order by load_dts) as load_end_dts,
    lead(load_dts) over (partition by {{ partition_by }} order by load_dts) is null as is_current
{%- endmacro %}

{#- Effectivity spans of a satellite: one row per version with the interval [effective_from, effective_to)
    it was in force, so anything that happened at time t joins to the version in force at t. -#}
{% macro effectivity_spans(satellite, hub, hash_key, business_key) -%}
select
    s.{{ hash_key }},
    h.{{ business_key }},
    s.load_dts as sat_load_dts,
    s.load_dts as effective_from,
    coalesce(s.load_end_dts, 'infinity'::timestamptz) as effective_to,
    s.is_current
from {{ ref(satellite) }} as s
join {{ ref(hub) }} as h on h.{{ hash_key }} = s.{{ hash_key }}
{%- endmacro %}
