{#- Generic test: the combination of columns is unique (dbt_utils' unique_combination_of_columns,
    written here because no hub package can be installed offline). -#}
{% test unique_combination(model, columns) %}
select {{ columns | join(', ') }}, count(*) as n
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
