{#- Generic test: every value is a 32-byte SHA-256 digest (hash keys and hash diffs, recipe v1). -#}
{% test is_sha256(model, column_name) %}
select {{ column_name }}
from {{ model }}
where octet_length({{ column_name }}) <> 32
{% endtest %}
