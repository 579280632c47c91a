-- What it would take: per unit and per region, the items that would add points, easiest first (the
-- rulebook's effort, then the most points), with the score and rank each step would reach while the
-- others stay as they are; and the smallest set of items that would have lifted it one place. Units'
-- and regions' rows are made apart (macros/improvement.sql), each from what it reads alone.
select * from {{ ref('int_improvement_unit_paths') }}
union all
select * from {{ ref('int_improvement_region_paths') }}
