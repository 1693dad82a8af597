{#- Generic test: no value below zero (money, token and request counts). -#}
{% test not_negative(model, column_name) %}
select {{ column_name }} from {{ model }} where {{ column_name }} < 0
{% endtest %}
