//! Word lists for realistic Chinese names: people, companies, shops, roads.

use rand::seq::SliceRandom;
use rand::Rng;

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹", "彭", "曾",
    "肖", "田", "董", "袁", "潘", "蒋", "蔡", "余", "杜", "叶", "程", "苏", "魏", "吕", "丁", "任",
    "沈", "姚", "卢", "姜", "崔", "钟", "谭", "陆", "汪", "范", "金", "石", "廖", "贾", "夏", "韦",
    "方", "白", "邹", "孟", "熊", "秦", "邱", "江", "尹", "薛", "段", "雷", "侯", "龙", "史", "陶",
    "黎", "贺", "顾", "毛", "郝", "欧阳", "司马",
];

const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明",
    "超", "霞", "平", "刚", "辉", "鹏", "华", "飞", "玲", "斌", "宇", "浩", "凯", "秀", "文", "建",
    "志", "红", "晓", "海", "俊", "峰", "婷", "雪", "琳", "欣", "怡", "博", "然", "思", "子", "梓",
    "嘉", "诚",
];

/// Two-character trade names (字号).
const TRADE_NAMES: &[&str] = &[
    "鑫源", "华康", "东方", "长江", "恒泰", "瑞丰", "汇通", "金鼎", "宏达", "天瑞", "盛世", "嘉禾",
    "博远", "中联", "新华", "安泰", "诚信", "联创", "九州", "锦程", "同德", "顺达", "永安", "佳美",
    "鸿运", "华隆", "福源", "兴业", "润泽", "康泰", "信达", "万家", "明辉", "晨光", "远航", "绿源",
];

const INDUSTRIES: &[&str] = &[
    "食品",
    "餐饮管理",
    "环保科技",
    "化工",
    "医药",
    "物流",
    "建筑工程",
    "农业开发",
    "商贸",
    "机械制造",
    "旅游开发",
    "网络科技",
    "建材",
    "汽车运输",
    "酒店管理",
    "生物科技",
];

const COMPANY_FORMS: &[&str] = &[
    "有限公司",
    "有限公司",
    "有限公司",
    "有限责任公司",
    "股份有限公司",
];

const SHOPS: &[&str] = &[
    "小吃店",
    "便利店",
    "五金店",
    "餐馆",
    "理发店",
    "水果店",
    "烧烤店",
    "早餐店",
    "副食店",
    "面馆",
];

const PRODUCE: &[&str] = &[
    "蔬菜",
    "水稻",
    "茶叶",
    "水果",
    "食用菌",
    "生猪",
    "水产",
    "中药材",
];

const INSTITUTIONS: &[&str] = &[
    "第一人民医院",
    "中心医院",
    "疾病预防控制中心",
    "实验中学",
    "第二中学",
    "图书馆",
    "职业技术学院",
    "妇幼保健院",
    "中医医院",
];

const ROADS: &[&str] = &[
    "解放大道",
    "中山路",
    "人民路",
    "建设大道",
    "发展大道",
    "友谊路",
    "光明路",
    "新华路",
    "和平大道",
    "民主路",
    "工业路",
    "长江路",
    "科技路",
    "滨江大道",
];

fn pick<'a, R: Rng>(rng: &mut R, words: &[&'a str]) -> &'a str {
    words.choose(rng).copied().unwrap_or_default()
}

/// A person's name: a surname and one or two given characters.
pub fn person<R: Rng>(rng: &mut R) -> String {
    let mut name = pick(rng, SURNAMES).to_string();
    name.push_str(pick(rng, GIVEN));
    if rng.gen_bool(0.6) {
        name.push_str(pick(rng, GIVEN));
    }
    name
}

/// Where a subject is registered, as names go into its name.
pub struct Place<'a> {
    /// The city's (or region's) short name: `武汉`.
    pub short: &'a str,
    /// Its full name: `武汉市`.
    pub city: &'a str,
    /// The district's full name: `江岸区` (the city's own name when there is none).
    pub district: &'a str,
}

/// A subject's name for its type code (`1` 企业 .. `9` 其他).
pub fn subject_name<R: Rng>(rng: &mut R, subject_type: &str, place: &Place<'_>) -> String {
    let Place {
        short: place,
        city,
        district,
    } = *place;
    let trade = pick(rng, TRADE_NAMES);
    match subject_type {
        "1" => format!(
            "{place}{trade}{}{}",
            pick(rng, INDUSTRIES),
            pick(rng, COMPANY_FORMS)
        ),
        "2" => {
            let surname = pick(rng, SURNAMES);
            format!("{district}{surname}记{}", pick(rng, SHOPS))
        }
        "3" => format!("{place}{trade}{}种植专业合作社", pick(rng, PRODUCE)),
        "4" => format!("{city}{}", pick(rng, INSTITUTIONS)),
        "5" => format!("{place}{}行业协会", pick(rng, INDUSTRIES)),
        _ => {
            let branch = if district == city {
                pick(rng, &["城东", "城西", "城南", "城北", "经济开发区"]).to_string()
            } else {
                district.to_string()
            };
            format!(
                "{place}{trade}{}有限公司{branch}分公司",
                pick(rng, INDUSTRIES)
            )
        }
    }
}

/// A road and number: `解放大道1234号`.
pub fn street<R: Rng>(rng: &mut R) -> String {
    format!("{}{}号", pick(rng, ROADS), rng.gen_range(1..=2000))
}
