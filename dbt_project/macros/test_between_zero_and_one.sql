{#- Generic test: a ratio lies in [0, 1] (error rate, availability). -#}
{% test between_zero_and_one(model, column_name) %}
select {{ column_name }} from {{ model }} where {{ column_name }} < 0 or {{ column_name }} > 1
{% endtest %}
