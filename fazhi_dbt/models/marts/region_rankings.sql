with region_roles as (
    -- the roles whose scores make a region's score, in their rulebook order
    select role, region_position from {{ source('reference', 'rulebook_roles') }} where in_region_score
), policy as (
    select
        -- scores needed for a region to be ranked: every region role, or any one of them
        case when i.require_all_region_roles then (select count(*) from region_roles) else 1 end as roles_needed
    from {{ source('reference', 'rulebook_info') }} i
), regions as (
    select distinct u.region
    from {{ source('reference', 'stg_units') }} u
    join region_roles r using (role)
), region_scores as (
    select
        y.year,
        g.region,
        -- each role on the whole sheet's scale (a task that does not apply counts neither way)
        max(s.scaled_score) filter (where r.region_position = 1) as party_score,
        max(s.scaled_score) filter (where r.region_position = 2) as government_score,
        case when count(s.scaled_score) filter (where r.role is not null) >= any_value(p.roles_needed)
             then avg(s.scaled_score) filter (where r.role is not null) end as score,
        bool_or(s.status = 'missing' and r.role is not null) as any_missing,
        string_agg(case when s.scaled_score is null and r.role is not null
                        then s.unit_name || case when s.status = 'pending'
                                                 then '待审（打分表未到应报日期 ' || strftime(s.sheet_due, '%Y-%m-%d') || '）'
                                                 else '缺报' end end, '；'
                   order by r.region_position, s.unit_name) as note
    from regions g
    cross join {{ ref('int_years') }} y
    cross join policy p
    -- the region roles' units alone (int_region_role_units): another role's corrected sheet leaves
    -- what this reads, and the ranking, as they were
    left join {{ ref('int_region_role_units') }} s on s.region = g.region and s.year = y.year
    left join region_roles r on r.role = s.role
    group by y.year, g.region
), ranked as (
    select
        *,
        {{ ranking_columns('year') }},
        count(*) over (partition by year) as subject_total
    from region_scores
), bottom_cuts as (
    {{ bottom_cuts('ranked', 'k.year') }}
)
select
    c.year,
    c.region,
    c.score,
    c.party_score,
    c.government_score,
    c.rank::integer as rank,
    p.rank::integer as prev_rank,
    (p.rank - c.rank)::integer as rank_change,
    {{ is_bottom('c', 'k') }} as is_bottom,
    p.score as prev_score,
    c.score - p.score as score_change,
    c.rank_total::integer as rank_total,
    c.subject_total::integer as subject_total,
    -- not ranked: 缺报 when a role's sheet is overdue, else 待审 (still within its due date)
    case when c.score is not null then 'ranked' when c.any_missing then 'missing' else 'pending' end as status,
    c.note
from ranked c
left join bottom_cuts k on k.year = c.year
left join ranked p on p.region = c.region and p.year = c.year - 1
