{# Bounds: every non-null value within [min_value, max_value]; `where` narrows the rows checked. #}
{% test value_between(model, column_name, min_value=none, max_value=none, where=none) %}
select * from {{ model }}
where {{ column_name }} is not null and (false
  {% if min_value is not none %} or {{ column_name }} < {{ min_value }} {% endif %}
  {% if max_value is not none %} or {{ column_name }} > {{ max_value }} {% endif %})
  {% if where %} and ({{ where }}) {% endif %}
{% endtest %}
