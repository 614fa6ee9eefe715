package classifier

// tradToSimp maps Traditional Chinese characters to their Simplified forms.
// Both article text and query terms are folded through it, so a term
// written in either script matches text in either script. The table covers
// the characters of the default topics' vocabulary (trade, diplomacy,
// sanctions, narcotics, law enforcement, technology) and the most frequent
// characters of news prose; it is not a general converter: a character
// missing here still matches itself.
var tradToSimp = func() map[rune]rune {
	const pairs = "" +
		"國国貿贸關关稅税華华盛盛頓顿習习緝缉毒毒鴉鸦類类體体學学務务長长軍军導导彈弹" +
		"藥药濫滥過过廠厂運运輸输邊边說说會会議议係系談谈進进處处罰罚製制劑剂東东亞亚" +
		"歐欧際际圖图術术實实單单協协級级領领頭头發发開开問问題题總总統统書书記记報报" +
		"紙纸網网絡络電电腦脑機机場场產产業业點点氣气資资訊讯鏈链販贩梟枭鹼碱嗎吗斷断" +
		"續续幣币匯汇價价額额擊击戰战艦舰兩两灣湾臺台區区廣广變变參参衝冲緊紧張张當当" +
		"執执員员偵侦辦办後后裡里這这個个們们來来從从時时間间還还沒没讓让將将對对為为" +
		"與与於于種种樣样無无現现經经濟济場场價价買买賣卖貨货幾几萬万億亿號号傳传聯联" +
		"盟盟約约營营銷销財财稅税權权證证據据調调查查禁禁令令嚴严厲厉懲惩裁裁決决議议" +
		"爭争衛卫隊队護护擬拟態态勢势設设計计劃划節节構构組组織织層层級级歷历復复興兴" +
		"鬥斗線线務务島岛隻只規规則则維维穩稳險险範范檢检測测驗验療疗醫医師师藥药癮瘾" +
		"陸陆僑侨簽签訂订諾诺責责務务貫贯徹彻義义辯辩論论壓压團团專专門门顧顾問问諮咨" +
		"詢询韓韩朝朝鮮鲜臺台蘭兰羅罗紐纽約约聞闻媒媒體体記记雜杂誌志廣广播播視视頻频" +
		"鋼钢鐵铁鋁铝礦矿糧粮農农漁渔獲获殺杀傷伤亡亡燒烧爆爆炸炸槍枪彈弹飛飞彈弹導导" +
		"歸归還还屬属於于應应該该須须雖虽麼么嗎吗邏逻輯辑戶户啟启動动靜静聲声響响驚惊" +
		"劇剧擴扩張张縮缩減减滅灭綜综結结終终極极紀纪錄录鄰邻寧宁聽听觀观點点優优勢势" +
		"宮宫晉晋峽峡諜谍竊窃駭骇衛卫課课儀仪閣阁黨党僅仅層层壇坛"
	m := make(map[rune]rune)
	rs := []rune(pairs)
	for i := 0; i+1 < len(rs); i += 2 {
		if rs[i] != rs[i+1] {
			m[rs[i]] = rs[i+1]
		}
	}
	return m
}()
